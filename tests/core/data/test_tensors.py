"""Splits and statistics on tensor datasets."""

from __future__ import annotations

import pytest
import torch

from core.data.tensors import CIFAR10_STD, ImageSet, balanced_subset, channel_stats, split_validation, validation_count


def labelled(n: int, classes: int = 10) -> ImageSet:
    """Image i carries its own index (low byte in channel 0, high byte in channel 1), so splits can be traced."""
    idx = torch.arange(n, dtype=torch.int64)
    images = torch.zeros(n, 3, 4, 4, dtype=torch.uint8)
    images[:, 0] = (idx % 256).to(torch.uint8).view(n, 1, 1)
    images[:, 1] = (idx // 256).to(torch.uint8).view(n, 1, 1)
    return ImageSet(images, idx % classes)


def ids(data: ImageSet) -> list[int]:
    return (data.images[:, 0, 0, 0].long() + 256 * data.images[:, 1, 0, 0].long()).tolist()


def test_true_cifar_std_not_the_typo():
    assert CIFAR10_STD == (0.2470, 0.2435, 0.2616)


def test_validation_split_is_stratified_disjoint_and_seeded():
    data = labelled(1000)
    train, val = split_validation(data, 100, 10, seed=1)
    assert len(train) == 900 and len(val) == 100
    assert val.class_counts(10) == [10] * 10 and train.class_counts(10) == [90] * 10
    tr_ids, va_ids = ids(train), ids(val)
    assert len(set(tr_ids)) == 900 and len(set(va_ids)) == 100  # no image twice
    assert set(tr_ids).isdisjoint(va_ids) and set(tr_ids) | set(va_ids) == set(range(1000))
    # every image keeps its own label
    assert all(i % 10 == y for i, y in zip(tr_ids + va_ids, train.labels.tolist() + val.labels.tolist()))
    again_tr, again_va = split_validation(data, 100, 10, seed=1)
    assert ids(again_tr) == tr_ids and ids(again_va) == va_ids
    _, other_va = split_validation(data, 100, 10, seed=2)
    assert set(ids(other_va)) != set(va_ids)


def test_validation_count_fraction_or_number():
    assert validation_count(0.1, 50000) == 5000
    assert validation_count(5000, 50000) == 5000
    assert validation_count(0, 50000) == 0


def test_balanced_subset_takes_the_first_images_of_each_class():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 0, 1, 2, 2, 2])
    data = ImageSet(torch.arange(12).to(torch.uint8).view(12, 1, 1, 1).expand(12, 3, 2, 2).clone(), labels)
    sub = balanced_subset(data, 6, 3)
    assert sub.class_counts(3) == [2, 2, 2]
    assert sub.images[:, 0, 0, 0].tolist() == [0, 1, 4, 5, 6, 9]
    assert len(balanced_subset(data, 100, 3)) == 12


def test_channel_stats():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (500, 3, 8, 8), generator=g, dtype=torch.uint8)
    mean, std = channel_stats(images, chunk_bytes=64 * 8 * 3 * 8 * 8)  # 64 images a chunk
    x = images.double() / 255
    assert mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-4)
    assert std == pytest.approx(x.std(dim=(0, 2, 3)).tolist(), abs=1e-3)


@pytest.mark.slow
def test_channel_stats_of_224_px_images_take_a_bounded_chunk_of_memory(tmp_path):
    """A float64 copy of 4,096 images was the chunk: 4.9 GB at 224 px, twice over. Now the peak above the
    images themselves stays within a few hundred MB, whatever their count (measured in a fresh process)."""
    import subprocess
    import sys

    script = (
        "import resource, torch\n"
        "from core.data.tensors import channel_stats\n"
        "x = torch.randint(0, 256, (2000, 3, 224, 224), dtype=torch.uint8)\n"  # 301 MB
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "channel_stats(x)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True,
                         cwd=root)
    grew_mib = int(out.stdout.strip())
    assert grew_mib < 400, f"channel_stats grew the peak by {grew_mib} MiB"
