"""On CUDA the progress report reads the loss, a host sync that drains the GPU's queue: however often a
viewer asks for news, the loop does not sync more than every CUDA_MIN_INTERVAL seconds there; elsewhere it
reports as often as asked (reading a CPU loss costs nothing). No GPU needed: only the loop's choice is tested."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from core.runs.control import TrainControl
from core.train.loop import CUDA_MIN_INTERVAL, TrainLoop


def loop_on(device: str, interval: float, compile: bool = False, compile_mode: str = "default") -> TrainLoop:
    from core.hardware.dist import SINGLE

    setup = SimpleNamespace(device=torch.device(device), stream=SimpleNamespace(steps_per_epoch=10), dist=SINGLE,
                            cfg=SimpleNamespace(epochs=2, compile=compile, compile_mode=compile_mode))
    store = SimpleNamespace(emit=lambda e: None)
    return TrainLoop(setup, SimpleNamespace(), store, TrainControl(), interval)  # type: ignore[arg-type]


@pytest.mark.parametrize("asked", [0.0, 0.1, 2.0])
def test_cuda_reports_no_more_often_than_its_minimum(asked):
    assert loop_on("cuda", asked).interval == max(asked, CUDA_MIN_INTERVAL)
    assert loop_on("cpu", asked).interval == asked
    assert CUDA_MIN_INTERVAL >= 0.5


def test_cuda_graph_steps_are_marked_only_where_cuda_graphs_run():
    """reduce-overhead and max-autotune replay CUDA graphs on a GPU: each step is marked as a new one there."""
    assert loop_on("cuda", 0.5, True, "reduce-overhead").cuda_graphs
    assert loop_on("cuda", 0.5, True, "max-autotune").cuda_graphs
    assert not loop_on("cuda", 0.5, True, "default").cuda_graphs
    assert not loop_on("cpu", 0.5, True, "reduce-overhead").cuda_graphs
