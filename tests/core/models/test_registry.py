"""Every registered model: output shape, backward, head swap, init; and the paper's parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.models import Bottleneck, Classifier, UnknownModelError, create_model, get_spec, list_models, model_stats

HEAVY = {"resnet1202", "resnet101", "resnet152"}  # seconds each: full suite only
# ~0.5 s a test each: full suite only as well; resnet18, tv-resnet18 and the bottleneck test keep
# their families in the fast loop
MEDIUM = {"resnet34", "resnet50", "tv-resnet50"}


def marked(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY | MEDIUM else n for n in names]


FAST = [m for m in list_models() if m not in HEAVY]
ALL = marked(list_models())

# He et al. 2016, Table 6 (CIFAR-10): parameters in millions.
PAPER_PARAMS = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7, "resnet1202": 19.4}


def test_registry_lists_all_families():
    names = list_models()
    for expected in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
                     "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "simplecnn"):
        assert expected in names
    assert {get_spec(n).family for n in names} == {
        "He et al. CIFAR ResNet", "ResNet (CIFAR stem)", "Fast ResNet (DAWNBench)", "Baseline", "torchvision ImageNet ResNet"}


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownModelError, match="resnet20.*simplecnn"):
        create_model("resnet7")


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_and_head_swap(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10)
    assert isinstance(model, Classifier)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    backbone_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model.reset_classifier(7)
    assert model.num_classes == 7
    model.eval()  # a train-mode forward would update the BN running stats compared below
    assert model(x).shape == (2, 7)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in backbone_before.items()), "head swap must keep the backbone"


@pytest.mark.parametrize("name", marked(FAST))
def test_batchnorm_everywhere_and_kaiming_init(name):
    """Every convolution feeds straight into a BatchNorm of its width (so it needs no bias), and every
    convolution starts from Kaiming-normal (fan-out) weights."""
    model = create_model(name)
    calls = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.ReLU, nn.MaxPool2d)):
            m.register_forward_hook(lambda mod, i, o: calls.append(mod))
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and len([c for c in calls if isinstance(c, nn.Conv2d)]) == len(convs)  # each used once
    for i, call in enumerate(calls):
        if isinstance(call, nn.Conv2d):
            following = calls[i + 1] if i + 1 < len(calls) else None
            assert isinstance(following, nn.BatchNorm2d) and following.num_features == call.out_channels, call
            assert call.bias is None
    for conv in convs:
        if conv.weight.numel() < 400:
            continue  # too few weights for a meaningful std
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.15), conv


@pytest.mark.parametrize("name", marked([n for n in FAST if n != "simplecnn"]))
def test_zero_init_residual_zeroes_last_bn_of_every_block(name):
    import torchvision.models.resnet as tv

    def blocks(model):  # ours have zero_init_last(); torchvision's are its own block classes
        return [m for m in model.modules() if hasattr(m, "zero_init_last") or isinstance(m, (tv.BasicBlock, tv.Bottleneck))]

    plain = create_model(name, zero_init_residual=False)
    zeroed = create_model(name, zero_init_residual=True)
    assert blocks(zeroed)
    def last_bn(block):
        return getattr(block, "last_bn", None) or (block.bn3 if hasattr(block, "bn3") else block.bn2)

    for block in blocks(zeroed):
        assert torch.count_nonzero(last_bn(block).weight) == 0
    assert any(torch.count_nonzero(last_bn(m).weight) > 0 for m in blocks(plain))


@pytest.mark.parametrize("name,paper", [pytest.param(n, v, marks=pytest.mark.slow) if n in HEAVY else (n, v) for n, v in PAPER_PARAMS.items()])
def test_he_cifar_parameter_counts_match_the_paper(name, paper):
    params, _ = model_stats(name)
    assert abs(params / 1e6 - paper) / paper < 0.02


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_cifar_stem_keeps_32x32_resolution(name):
    """The seed's ImageNet stem shrank 32x32 inputs to 8x8 before stage 1; ours keeps 32x32."""
    model = create_model(name)
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = output.shape  # returns None: the output is left unchanged

        return hook

    model.layer1.register_forward_hook(record("layer1"))
    model.layer4.register_forward_hook(record("layer4"))
    model(torch.randn(1, 3, 32, 32))
    assert seen["layer1"][-2:] == (32, 32)
    assert seen["layer4"][-2:] == (4, 4)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())


def test_bottleneck_expansion_sizes_the_head():
    assert Bottleneck.expansion == 4
    assert create_model("resnet50").fc.in_features == 2048
    assert create_model("resnet18").fc.in_features == 512
    assert create_model("resnet20").fc.in_features == 64


def test_he_resnet_depth_is_6n_plus_2():
    model = create_model("resnet56")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 56  # option-A shortcuts add no layers


def test_flop_count_matches_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    for name in ("resnet20", "resnet50"):
        model = create_model(name).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, 3, 32, 32))
        assert model_stats(name)[1] == pytest.approx(counter.get_total_flops() / 1e6, rel=1e-6)
    # Known values (performance notes): ResNet-20 81.1 MFLOPs, ResNet-18 (CIFAR stem) 1110.8 MFLOPs.
    assert model_stats("resnet20")[1] == pytest.approx(81.1, abs=0.1)
    assert model_stats("resnet18")[1] == pytest.approx(1110.8, abs=0.1)


def test_resnet9_matches_page_s_net():
    params, mflops = model_stats("resnet9")
    assert params == 6_573_120  # 6.57M, as in the DAWNBench write-up
    assert mflops == pytest.approx(758.5, abs=0.1)  # performance notes: 758.5 forward MFLOPs


@pytest.mark.parametrize("name", marked(FAST))
def test_spec_stage_count_matches_the_model(name):
    assert get_spec(name).num_stages == len(create_model(name).stages)
