"""Fine-tuning from a resnet-tui run and transfer from torchvision weights: head swap, freezing, errors."""

from __future__ import annotations

import json
import os

import pytest
import torch
from helpers import build_image_folder, built_once, tiny_bundle

from core.config.train_config import TrainConfig
from core.errors import CheckpointError, UserError
from core.models import create_model
from core.train import fit
from core.train.checkpoint import load_checkpoint
from core.train.finetune import HEAD_KEYS, frozen_modules, load_backbone


@pytest.fixture(scope="session")
def parent_run(tmp_path_factory):
    """A 10-class synthetic resnet20 run at 32x32, trained for one short epoch, once for every test (they only
    read it; each fine-tune writes its own run)."""

    def train(folder):
        data = tiny_bundle(train=128, test=50, size=32)
        return fit(TrainConfig(arch="resnet20", epochs=1, batch_size=32, device="cpu", dataset="synthetic",
                               runs_dir=str(folder / "runs"), name="parent"), data=data).run_dir

    return built_once(tmp_path_factory, "finetune-parent", train)


def finetune_cfg(tmp_path, parent, folder, **kw) -> TrainConfig:
    base = dict(arch="resnet20", init_from=str(parent), dataset="folder", data=str(folder), epochs=2,
                batch_size=6, lr=0.05, device="cpu", runs_dir=str(tmp_path / "runs"), name="child")
    return TrainConfig(**(base | kw))


def weights(path):
    return load_checkpoint(path)["model"]


def test_linear_probe_trains_only_the_new_head(tmp_path, parent_run):
    folder = build_image_folder(tmp_path / "pets")
    result = fit(finetune_cfg(tmp_path, parent_run, folder, freeze="backbone"))
    assert result.status == "completed"
    before, after = weights(parent_run / "final.pt"), weights(result.run_dir / "final.pt")
    for key, value in after.items():
        if key in HEAD_KEYS:
            assert value.shape[0] == 3  # cat, dog, frog
        else:
            assert torch.equal(value, before[key]), f"{key} changed under a linear probe"
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["parent"] == str(parent_run / "final.pt") and saved["classes"] == ["cat", "dog", "frog"]
    assert saved["data"]["mean"] == load_checkpoint(parent_run / "final.pt")["mean"]  # the parent's normalisation


def test_last_stage_policy_and_backbone_lr(tmp_path, parent_run):
    folder = build_image_folder(tmp_path / "pets")
    result = fit(finetune_cfg(tmp_path, parent_run, folder, freeze="stages:1", backbone_lr_mult=0.5, schedule="constant"))
    before, after = weights(parent_run / "final.pt"), weights(result.run_dir / "final.pt")
    assert all(torch.equal(after[k], before[k]) for k in after if k.startswith(("stem.", "layer1.", "layer2.")))
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("layer3.") and "weight" in k)
    # the optimiser holds only the trainable parts: the head at --lr, layer3 at half of it
    groups = load_checkpoint(result.run_dir / "last.pt")["optimizer"]["param_groups"]
    model = create_model("resnet20", 3)
    per_lr: dict[float, int] = {}
    for g in groups:
        per_lr[g["lr"]] = per_lr.get(g["lr"], 0) + len(g["params"])
    assert per_lr == {0.05: len(list(model.fc.parameters())), 0.025: len(list(model.layer3.parameters()))}


def test_full_finetune_changes_everything_and_starts_fresh(tmp_path, parent_run):
    folder = build_image_folder(tmp_path / "pets")
    result = fit(finetune_cfg(tmp_path, parent_run, folder, epochs=1))
    last = load_checkpoint(result.run_dir / "last.pt")
    assert last["epoch"] == 1 and last["global_step"] == 3  # 18 images / 6: the count starts at zero
    assert last["scheduler"]["last_epoch"] == 3 and last["train_seconds"] < 60  # the parent's counters are not carried
    assert all(len(s) > 0 for s in last["optimizer"]["state"].values()) and len(last["optimizer"]["state"]) == len(
        list(create_model("resnet20", 3).parameters())
    )  # a fresh optimiser over every parameter
    before, after = weights(parent_run / "final.pt"), weights(result.run_dir / "final.pt")
    unchanged = [k for k in before if k not in HEAD_KEYS and torch.equal(after[k], before[k])]
    assert unchanged == [], f"a full fine-tune left these as they were: {unchanged}"
    assert after["fc.weight"].shape == (3, 64) and before["fc.weight"].shape == (10, 64)


def test_checkpoint_of_another_arch_is_refused_before_writing(tmp_path, parent_run):
    folder = build_image_folder(tmp_path / "pets")
    with pytest.raises(CheckpointError, match="is a resnet20 checkpoint; it cannot start a resnet32"):
        fit(finetune_cfg(tmp_path, parent_run, folder, arch="resnet32"))
    assert not (tmp_path / "runs" / "child").exists()


def test_class_count_must_agree(tmp_path, parent_run):
    folder = build_image_folder(tmp_path / "pets")
    with pytest.raises(UserError, match="--num-classes 5 does not match the 3 classes"):
        fit(finetune_cfg(tmp_path, parent_run, folder, num_classes=5))
    assert fit(finetune_cfg(tmp_path, parent_run, folder, num_classes=3, epochs=1)).status == "completed"


def test_shape_mismatch_is_never_hidden():
    model = create_model("resnet20", 3)
    wrong = create_model("resnet32", 10).state_dict()
    with pytest.raises(CheckpointError, match="does not fit"):
        load_backbone(model, wrong, "other.pt")
    donor = create_model("resnet20", 10).state_dict()
    del donor["layer2.0.bn1.weight"]
    with pytest.raises(CheckpointError, match="missing"):
        load_backbone(model, donor, "partial.pt")
    load_backbone(model, create_model("resnet20", 10).state_dict(), "ok.pt")  # only the head differs: fine


def test_freeze_policies_name_their_modules():
    model = create_model("resnet20", 3)
    assert frozen_modules(create_model("resnet20"), "none") == []
    frozen = frozen_modules(model, "stages:2")
    assert model.stem in frozen and model.layer1 in frozen and model.layer2 not in frozen
    assert all(p.requires_grad for p in model.layer3.parameters()) and model.fc.weight.requires_grad
    with pytest.raises(UserError, match="only 3 stages"):
        frozen_modules(create_model("resnet20"), "stages:4")


def test_frozen_batchnorm_statistics_stay_put(tmp_path, parent_run):
    folder = build_image_folder(tmp_path / "pets")
    result = fit(finetune_cfg(tmp_path, parent_run, folder, freeze="backbone"))
    before, after = weights(parent_run / "final.pt"), weights(result.run_dir / "final.pt")
    assert torch.equal(after["layer2.0.bn1.running_mean"], before["layer2.0.bn1.running_mean"])


# ------------------------------------------------------------------ torchvision transfer
def tv_weights_file(tmp_path, arch="tv-resnet18"):
    import torchvision

    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18-local.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_transfer_from_a_local_weights_file(tmp_path):
    path, state = tv_weights_file(tmp_path)
    folder = build_image_folder(tmp_path / "pets")
    result = fit(TrainConfig(arch="tv-resnet18", weights=str(path), freeze="backbone", dataset="folder", data=str(folder),
                             epochs=1, batch_size=6, lr=0.05, device="cpu", image_size=32, runs_dir=str(tmp_path / "runs")))
    assert result.status == "completed"
    after = weights(result.run_dir / "final.pt")
    assert torch.equal(after["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert after["fc.weight"].shape == (3, 512)
    cfg = json.loads((result.run_dir / "config.json").read_text())
    assert cfg["data"]["mean"] == [0.485, 0.456, 0.406]  # ImageNet normalisation for ImageNet weights


def test_pretrained_offline_without_cache_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from core.models.torchvision_resnet import load_imagenet_weights

    with pytest.raises(CheckpointError) as err:
        load_imagenet_weights("tv-resnet18")
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path / "hub" / "checkpoints") in message and "--weights" in message
    assert not any((tmp_path / "hub").rglob("*.pth"))


def test_pretrained_uses_torchvision_s_cache(tmp_path, monkeypatch):
    from core.models.torchvision_resnet import load_imagenet_weights, weights_file

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    _, expected = weights_file("tv-resnet18")
    expected.parent.mkdir(parents=True)
    path, state = tv_weights_file(tmp_path)
    os.replace(path, expected)
    loaded = load_imagenet_weights("tv-resnet18")
    assert torch.equal(loaded["conv1.weight"], state["conv1.weight"])


def test_malicious_weights_never_execute(tmp_path):
    from core.models.torchvision_resnet import load_imagenet_weights

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pth"
    torch.save({"conv1.weight": Evil()}, bad)
    with pytest.raises(CheckpointError, match=r"refusing to load .*evil.pth: it asks to run or build posix.system"):
        load_imagenet_weights("tv-resnet18", bad)
    assert not marker.exists()
    torch.load(bad, weights_only=False)  # the control: an unsafe load really runs the payload
    assert marker.exists()


def test_damaged_weights_are_called_corrupt_not_unsafe(tmp_path):
    from core.models.torchvision_resnet import load_imagenet_weights

    path, _ = tv_weights_file(tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt") as err:
        load_imagenet_weights("tv-resnet18", path)
    assert "refusing" not in str(err.value)


def test_pretrained_only_for_torchvision_models():
    from core.config.validate import validate_config

    errors = validate_config(TrainConfig(arch="resnet20", pretrained=True), ["resnet20"])
    assert errors and errors[0].field == "pretrained"
