"""Batched augmentation and the resumable training stream."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.data import Augment, ImageSet, Normalize, TrainStream
from core.data.augment import random_crop, random_flip, random_rotate
from core.data.synthetic import make_synthetic


def batch(n=16, size=8):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def test_random_crop_equals_per_sample_reference():
    x = batch()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    out = random_crop(x, 4, g1)
    dy = torch.randint(0, 9, (16,), generator=g2)
    dx = torch.randint(0, 9, (16,), generator=g2)
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(16):
        ref = padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8]
        assert torch.equal(out[i], ref)
    assert out.dtype == torch.uint8 and out.shape == x.shape


def test_random_flip_flips_about_half_exactly():
    x = batch(n=400)
    out = random_flip(x, torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, i.flip(2)) and not torch.equal(o, i) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def _blob(size: int = 33, at: tuple[float, float] = (16.0, 28.0)) -> torch.Tensor:
    """A soft bright spot away from the centre: its position after rotation shows the angle used."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    return torch.exp(-((ys - at[0]) ** 2 + (xs - at[1]) ** 2) / 2.0).float()


def _spot_angle(img: torch.Tensor) -> float:
    """Angle (degrees) of the brightness centroid around the image centre."""
    size = img.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    w = img.double().clamp_min(0)
    c = (size - 1) / 2
    cy, cx = float((w * ys).sum() / w.sum()) - c, float((w * xs).sum() / w.sum()) - c
    return math.degrees(math.atan2(cy, cx))


def test_rotation_turns_each_image_by_its_own_angle_within_the_range():
    x = _blob().expand(12, 3, 33, 33).clone()
    out = random_rotate(x, 30.0, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # the angles the generator drew, the same way random_rotate draws them
    drawn = ((torch.rand(12, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 30.0).tolist()
    before = _spot_angle(x[0, 0])
    turned = [_spot_angle(o[0]) - before for o in out]
    assert all(abs(t) <= 30.5 for t in turned)
    # the spot moved by the drawn angle (in one consistent direction), image by image
    sign = 1.0 if turned[0] * drawn[0] > 0 else -1.0
    assert turned == pytest.approx([sign * d for d in drawn], abs=1.0)
    assert max(drawn) - min(drawn) > 20  # the images really got different angles
    # the same channels move together, and the spot keeps (about) its brightness
    assert torch.allclose(out[:, 0], out[:, 2])
    assert out.sum(dim=(2, 3)) == pytest.approx(x.sum(dim=(2, 3)), rel=0.05)


def test_normalize_uses_given_stats():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = Normalize((0.5, 0.5, 0.5), (0.25, 0.5, 1.0), torch.device("cpu"))(x)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))


def indexed(n: int) -> ImageSet:
    """Image i carries its index in its pixels (low byte, high byte), so batches can be traced back."""
    idx = torch.arange(n)
    images = torch.zeros(n, 3, 4, 4, dtype=torch.uint8)
    images[:, 0], images[:, 1] = (idx % 256).view(n, 1, 1).to(torch.uint8), (idx // 256).view(n, 1, 1).to(torch.uint8)
    return ImageSet(images, idx % 10)


def traced(x: torch.Tensor) -> list[int]:
    return (x[:, 0, 0, 0].round().long() + 256 * x[:, 1, 0, 0].round().long()).tolist()


def test_stream_is_seeded_and_covers_the_data():
    tr, _, _ = make_synthetic(100, 10, image_size=8)
    norm = Normalize((0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
    a = TrainStream(tr, 32, Augment(), norm, seed=3)
    b = TrainStream(tr, 32, Augment(), norm, seed=3)
    xa = [x for x, _ in a.epoch_batches()]
    xb = [x for x, _ in b.epoch_batches()]
    assert len(xa) == 3 == a.steps_per_epoch  # 100 // 32, last partial batch dropped
    assert all(torch.equal(p, q) for p, q in zip(xa, xb))
    c = TrainStream(tr, 32, Augment(), norm, seed=4)
    assert not torch.equal(next(iter(c.epoch_batches()))[0], xa[0])

    # every image exactly once per epoch (no replacement), in a new order each epoch
    data = indexed(300)
    identity = Normalize((0.0,) * 3, (1 / 255,) * 3, torch.device("cpu"))  # x -> x, so pixels read back as indices
    plain = TrainStream(data, 25, Augment(0, False, 0), identity, seed=0)
    epochs = []
    for _ in range(3):
        order = [i for x, y in plain.epoch_batches() for i in traced(x)]
        assert sorted(order) == list(range(300))
        epochs.append(order)
    assert epochs[0] != epochs[1] != epochs[2]
    # with a partial last batch dropped, the images used are still distinct
    dropping = TrainStream(data, 64, Augment(0, False, 0), identity, seed=0)
    used = [i for x, _ in dropping.epoch_batches() for i in traced(x)]
    assert len(used) == 4 * 64 == len(set(used))
    # labels travel with their images
    for x, y in TrainStream(data, 50, Augment(0, False, 0), identity, seed=1).epoch_batches():
        assert [i % 10 for i in traced(x)] == y.tolist()


def test_stream_state_resumes_mid_epoch_exactly():
    tr, _, _ = make_synthetic(96, 10, image_size=8)
    norm = Normalize((0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
    ref = TrainStream(tr, 16, Augment(rotate=5.0), norm, seed=9)
    full = [x for _ in range(2) for x, _ in ref.epoch_batches()]

    s = TrainStream(tr, 16, Augment(rotate=5.0), norm, seed=9)
    it = s.epoch_batches()
    first = [next(it)[0] for _ in range(2)]
    state = s.state_dict()
    resumed = TrainStream(tr, 16, Augment(rotate=5.0), norm, seed=12345)
    resumed.load_state_dict(state)
    rest = [x for x, _ in resumed.epoch_batches()] + [x for x, _ in resumed.epoch_batches()]
    got = first + rest
    assert len(got) == len(full) == 12
    assert all(torch.equal(p, q) for p, q in zip(got, full))


def test_synthetic_is_deterministic_and_balanced():
    from core.data.synthetic import DATA_SEED, _made

    a = make_synthetic(200, 50)
    made_again = _made.__wrapped__(200, 50, 32, 0.2, DATA_SEED)  # not from the cache: as another process makes it
    assert torch.equal(a[0].images, made_again[0].images) and torch.equal(a[1].labels, made_again[1].labels)
    a[0].images.zero_()  # each call gets its own copy: changing one changes no later call's
    assert make_synthetic(200, 50)[0].images.any()
    assert a[0].class_counts(10) == [20] * 10
    assert len(a[2]) == 10


def test_a_dataset_smaller_than_a_batch_is_one_batch_per_epoch():
    tr, _, _ = make_synthetic(40, 10, image_size=8)
    norm = Normalize((0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
    s = TrainStream(tr, 128, Augment(), norm, seed=0)
    for _ in range(3):
        sizes = [len(y) for _, y in s.epoch_batches()]
        assert sizes == [40]


def test_an_older_stream_state_keeps_its_order_and_says_it_is_not_exact():
    """Checkpoints of the first scheme saved a generator and the epoch's permutation."""
    tr, _, _ = make_synthetic(64, 10, image_size=8)
    norm = Normalize((0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
    s = TrainStream(tr, 16, Augment(), norm, seed=0)
    perm = torch.arange(64).flip(0)
    old = {"generator": torch.zeros(16, dtype=torch.uint8), "perm": perm, "batch": 2}
    assert s.load_state_dict(old, epoch=3) is False
    assert s.epoch == 3 and s.batch_in_epoch == 2 and torch.equal(s.perm, perm)
    assert s.load_state_dict(TrainStream(tr, 16, Augment(), norm, seed=1).state_dict()) is True


def test_the_order_is_the_same_on_every_device_and_rank_shares_partition_each_batch():
    """An epoch's order depends on (seed, epoch) only; rank r of w takes the r-th part of each global batch."""
    data = indexed(240)
    identity = Normalize((0.0,) * 3, (1 / 255,) * 3, torch.device("cpu"))
    whole = TrainStream(data, 40, Augment(0, False, 0), identity, seed=5)
    parts = [TrainStream(data, 40, Augment(0, False, 0), identity, seed=5, rank=r, world=2) for r in range(2)]
    for epoch in (1, 2):
        for s in (whole, *parts):
            s.start_epoch(epoch)
        one = [traced(x) for x, _ in whole.epoch_batches()]
        two = [[traced(x) for x, _ in p.epoch_batches()] for p in parts]
        assert [a + b for a, b in zip(*two)] == one  # the global batches, split in two halves
        seen = [i for batch in two[0] + two[1] for i in batch]
        assert sorted(seen) == list(range(240))  # every image once per epoch across the ranks


def test_augmentations_differ_between_ranks_and_repeat_for_the_same_rank():
    tr, _, _ = make_synthetic(64, 10, image_size=8)
    norm = Normalize((0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
    same = tr.select(torch.zeros(64, dtype=torch.long))  # one image 64 times: only the augmentation differs
    def first(rank, seed=0):
        s = TrainStream(same, 32, Augment(), norm, seed=seed, rank=rank, world=2)
        return next(iter(s.epoch_batches()))[0]
    assert torch.equal(first(0), first(0)) and not torch.equal(first(0), first(1))


def test_cutout_zeroes_one_square_per_image():
    from core.data.augment import random_cutout

    x = torch.ones(64, 3, 16, 16)
    out = random_cutout(x, 6, torch.Generator().manual_seed(0))
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros <= 36).all() and (zeros > 0).all() and (zeros == 36).sum() > 10  # clipped at the border
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # the same square in every channel
    rows = (out[:, 0] == 0).any(dim=2).sum(dim=1)
    assert (rows <= 6).all()


def test_crop_with_flip_is_a_crop_of_the_image_or_of_its_mirror():
    x = batch(n=200)
    out = random_crop(x, 4, torch.Generator().manual_seed(3), flip=True)
    padded = F.pad(x, (4, 4, 4, 4))
    mirrored = 0
    for i in range(200):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(9) for dx in range(9)]
        plain = any(torch.equal(out[i], w) for w in windows)
        flipped = any(torch.equal(out[i], w.flip(2)) for w in windows)
        assert plain or flipped
        mirrored += flipped and not plain
    assert 60 < mirrored < 140


def test_rotation_keeps_a_channels_last_batch_channels_last():
    """grid_sample answers channels-first; the training step is channels-last, so a rotated batch would be
    converted back at every convolution."""
    from core.data.augment import random_rotate

    x = torch.rand(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    out = random_rotate(x, 15.0, torch.Generator().manual_seed(0))
    assert out.is_contiguous(memory_format=torch.channels_last) and out.shape == x.shape
    plain = random_rotate(x.contiguous(), 15.0, torch.Generator().manual_seed(0))
    assert plain.is_contiguous() and torch.equal(plain, out)
