"""A run resumed on another kind of device: the optimiser runs the kernels of the device it is on now (not
the flags the checkpoint's param groups carried), its state takes its parameters' layout, and what --precision
auto and --channels-last auto resolve to differently is said, not done silently. CUDA is simulated by editing
a CPU run's checkpoint as a CUDA run would have written it."""

from __future__ import annotations

import torch
from helpers import tiny_bundle

from core.config.train_config import TrainConfig
from core.runs.events import Notice
from core.train import fit
from core.train.checkpoint import LAST, load_checkpoint, save_checkpoint
from core.train.optim import match_device


def test_a_checkpoint_from_cuda_resumes_on_cpu_with_cpu_kernels_and_says_what_changed(tmp_path):
    cfg = TrainConfig(arch="simplecnn", epochs=1, batch_size=32, lr=0.05, device="cpu", runs_dir=str(tmp_path / "runs"),
                      name="moved", image_size=16, dataset="synthetic")
    run = fit(cfg, data=tiny_bundle()).run_dir
    ckpt = load_checkpoint(run / LAST)
    assert ckpt["trained_on"] == {"device": "cpu", "precision": "fp32", "channels_last": True, "processes": 1}
    for group in ckpt["optimizer"]["param_groups"]:  # as the fused CUDA optimiser saves them
        group["fused"], group["foreach"] = True, None
    ckpt["trained_on"] = {"device": "cuda:0", "precision": "bf16", "channels_last": True}
    save_checkpoint(run / LAST, {k: v for k, v in ckpt.items() if k != "format"})

    notices = []
    result = fit(TrainConfig(), lambda e: notices.append(e.message) if isinstance(e, Notice) else None,
                 resume=run, resume_overrides={"epochs": 2}, data=tiny_bundle())
    assert result.status == "completed"
    assert any("device cuda:0 -> cpu; precision bf16 -> fp32" in m for m in notices), notices
    groups = load_checkpoint(run / LAST)["optimizer"]["param_groups"]
    assert all(g["foreach"] is True and not g["fused"] for g in groups)


def test_optimizer_state_takes_its_parameters_layout():
    conv = torch.nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(conv.parameters(), lr=0.1, momentum=0.9, fused=None, foreach=False)
    opt.state[conv.weight]["momentum_buffer"] = torch.randn(conv.weight.shape)  # contiguous, as loaded
    before = opt.state[conv.weight]["momentum_buffer"].clone()
    match_device(opt, torch.device("cpu"))
    buf = opt.state[conv.weight]["momentum_buffer"]
    assert buf.is_contiguous(memory_format=torch.channels_last) and torch.equal(buf, before)
    assert opt.param_groups[0]["foreach"] is True and opt.param_groups[0]["fused"] is None
