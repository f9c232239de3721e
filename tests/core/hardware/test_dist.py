"""The distributed pieces with real processes (torchrun, gloo on the CPU): a gathered batch norm gives the
gradients of one process over the whole batch, and a sharded evaluation the confusion matrix of one process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.errors import UserError
from core.hardware.dist import env_world

WORKERS = Path(__file__).with_name("dist_workers.py")
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(mode: str, out: Path, *extra: str, nproc: int = 2) -> None:
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
                           f"--master-port={free_port()}", str(WORKERS), mode, str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_environment_names_the_process_s_place(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert env_world() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert env_world() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert env_world() == (3, 4, 1, 2)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(UserError, match="RANK=4 and WORLD_SIZE=4"):
        env_world()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(UserError, match="RANK='x'"):
        env_world()


def single_process_grads() -> dict:
    from core.models import create_model

    torch.manual_seed(1)
    x, y = torch.randn(64, 3, 16, 16, dtype=torch.float64), torch.randint(0, 10, (64,))
    torch.manual_seed(0)
    m = create_model("resnet20", 10, image_size=16).double()
    torch.nn.functional.cross_entropy(m(x), y).backward()
    return {k: p.grad for k, p in m.named_parameters()}


def worst_relative(a: dict, b: dict) -> float:
    return max(((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-30)).item() for k in a)


@pytest.mark.slow
def test_two_ranks_with_gathered_batch_norm_have_the_gradients_of_one_process(tmp_path):
    """In float64, so that the only difference left is the order of additions."""
    one = single_process_grads()
    torchrun("grads-sync", tmp_path / "sync.pt")
    torchrun("grads-plain", tmp_path / "plain.pt")
    synced = torch.load(tmp_path / "sync.pt")
    plain = torch.load(tmp_path / "plain.pt")
    assert worst_relative(one, synced) < 1e-10
    assert worst_relative(one, plain) > 1e-4  # each rank's own batch statistics: not the same gradients
    # Closing together: rank 1, done first, tore its group down only once rank 0 had come to the end too.
    rank0, rank1 = (json.loads((tmp_path / f"plain.close{r}.json").read_text()) for r in (0, 1))
    assert rank1["reached"] < rank0["reached"] <= rank1["closed"]


@pytest.mark.slow
def test_a_sharded_evaluation_equals_one_process_exactly(tmp_path):
    from helpers import tiny_bundle

    from core.config.train_config import TrainConfig
    from core.data import Normalize
    from core.data.synthetic import make_synthetic
    from core.inference.evaluate import evaluate
    from core.inference.trained import load_trained
    from core.train import fit

    # A model that tells the classes apart somewhat, so that the matrix has more than one busy column.
    run = fit(TrainConfig(arch="simplecnn", epochs=3, batch_size=32, lr=0.05, device="cpu", image_size=16,
                          dataset="synthetic", runs_dir=str(tmp_path / "runs"), name="e"), data=tiny_bundle()).run_dir
    from helpers import write_image

    for i in range(12):  # streamed: the last image, in the second rank's shard, cannot be read
        write_image(tmp_path / "imgs" / f"{i:02d}.png", (40 * (i % 5), 90, 30), 20)
    (tmp_path / "imgs" / "11.png").write_bytes(b"\x89PNG not an image")
    torchrun("evaluate", tmp_path / "two.json", str(run), str(tmp_path / "imgs"))
    two = json.loads((tmp_path / "two.json").read_text())
    for rank in (0, 1):  # both hear of it, and neither waits for the other in the sum
        assert f"cannot read image {tmp_path / 'imgs' / '11.png'}" in json.loads((tmp_path / f"two.bad{rank}.json").read_text())
    trained = load_trained(run, "cpu")
    _, test, _ = make_synthetic(64, 333, image_size=16)
    one = evaluate(trained.model, test, Normalize(trained.mean, trained.std, torch.device("cpu")), 10, 50, keep=True)
    assert two["count"] == one.count == 333
    # the kept predictions: both shards gathered, in the set's order
    assert two["true"] == one.predictions.true.tolist() == test.labels.tolist()
    assert two["top_class"] == one.predictions.top_class.tolist()
    assert torch.tensor(two["top_prob"]) == pytest.approx(one.predictions.top_prob, abs=1e-6)
    assert sum(1 for j in range(10) if any(r[j] for r in one.confusion)) >= 3, one.confusion  # not one class for all
    assert [tuple(r) for r in two["confusion"]] == list(one.confusion)
    assert two["loss"] == pytest.approx(one.loss, rel=1e-6)


def test_sync_bn_in_one_process_is_allowed_with_a_notice(tmp_path):
    from helpers import tiny_bundle

    from core.config.train_config import TrainConfig
    from core.runs.events import Notice
    from core.train import fit

    notes = []
    result = fit(TrainConfig(arch="simplecnn", epochs=1, batch_size=32, device="cpu", image_size=16, dataset="synthetic",
                             runs_dir=str(tmp_path), name="s", sync_bn=True),
                 lambda e: notes.append(e.message) if isinstance(e, Notice) else None, data=tiny_bundle())
    assert result.status == "completed"
    assert any(n.startswith("--sync-bn: one process trains this run") for n in notes), notes


def test_a_gpu_rank_takes_its_local_gpu_before_the_process_group_starts(monkeypatch):
    """NCCL: every rank of a machine must be on its own GPU before the first collective (a patched CUDA
    surface and process group: no GPU here)."""
    import torch.distributed

    from core.hardware.dist import Dist

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.append(("set_device", i)))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend, **kw: calls.append(("init", backend)))
    for name, value in (("WORLD_SIZE", "4"), ("RANK", "3"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    d = Dist.from_env("auto")
    assert calls == [("set_device", 1), ("init", "nccl")]
    assert (d.rank, d.world, d.local_rank, d.backend) == (3, 4, 1, "nccl")
    assert d.device_spec("cuda") == d.device_spec("auto") == "cuda:1"
    calls.clear()
    assert Dist.from_env("cpu").backend == "gloo" and calls == [("init", "gloo")]  # CPU ranks: no GPU chosen
