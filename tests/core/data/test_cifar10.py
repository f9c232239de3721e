"""CIFAR-10 loading, downloading and caching, against a fake archive in the real format (never the network)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from helpers import FAKE_PER_BATCH

from core.data import cifar10
from core.data.cache import CACHE_DIR
from core.errors import DataError


@pytest.mark.slow
def test_checksums_are_torchvision_s():
    from torchvision.datasets import CIFAR10

    # (module constants, read before the fake_cifar fixture patches them)
    assert cifar10.ARCHIVE_MD5 == CIFAR10.tgz_md5
    assert cifar10.URL == CIFAR10.url
    assert list(cifar10.TRAIN_FILES.items()) == [tuple(x) for x in CIFAR10.train_list]
    assert list(cifar10.TEST_FILES.items()) == [tuple(x) for x in CIFAR10.test_list]


def test_loads_a_local_archive_in_the_real_format(fake_cifar, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    os.link(fake_cifar["archive"], root / cifar10.ARCHIVE)
    train, test, classes = cifar10.load_cifar10(root, allow_download=False)
    assert classes[0] == "airplane" and len(classes) == 10
    assert train.images.shape == (5 * FAKE_PER_BATCH, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (FAKE_PER_BATCH, 3, 32, 32)
    data, labels = fake_cifar["contents"]["data_batch_1"]
    # the row layout is 1024 red, then green, then blue values, row-major: N x 3 x 32 x 32
    assert torch.equal(train.images[:FAKE_PER_BATCH], torch.from_numpy(data.reshape(-1, 3, 32, 32)))
    assert train.labels[:FAKE_PER_BATCH].tolist() == labels
    assert (root / CACHE_DIR / "cifar10.pt").is_file()


def test_cache_is_used_and_invalidated_when_the_source_changes(fake_cifar, tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    os.link(fake_cifar["archive"], root / cifar10.ARCHIVE)
    first = cifar10.load_cifar10(root, allow_download=False)

    calls = []
    real_read = cifar10.read_batch
    monkeypatch.setattr(cifar10, "read_batch", lambda p: calls.append(p) or real_read(p))
    again = cifar10.load_cifar10(root, allow_download=False)
    assert calls == [], "a current cache must not re-read the batch files"
    assert torch.equal(first[0].images, again[0].images)

    batch = root / cifar10.FOLDER / "data_batch_3"
    st = batch.stat()
    os.utime(batch, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cifar10.load_cifar10(root, allow_download=False)
    assert len(calls) == 6, "a changed source file must invalidate the cache"


def test_download_from_a_local_url(fake_cifar, tmp_path):
    root = tmp_path / "dl"
    progress = []
    cifar10.download(root, url=fake_cifar["archive"].as_uri(), progress=lambda d, t: progress.append(d))
    assert (root / cifar10.ARCHIVE).read_bytes() == fake_cifar["archive"].read_bytes()
    assert progress and progress[-1] == fake_cifar["archive"].stat().st_size
    assert [p.name for p in root.iterdir()] == [cifar10.ARCHIVE], "no temp files are left"


def test_download_with_bad_checksum_is_removed(fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", "0" * 32)
    root = tmp_path / "dl"
    with pytest.raises(DataError, match="md5"):
        cifar10.download(root, url=fake_cifar["archive"].as_uri())
    assert not (root / cifar10.ARCHIVE).exists()


def test_offline_without_a_copy_says_where_to_put_the_archive(tmp_path):
    root = tmp_path / "nothing" / "here"
    with pytest.raises(DataError) as err:
        cifar10.load_cifar10(root, allow_download=True)
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and str(root) in msg and "\n" not in msg
    assert not (tmp_path / "nothing").exists(), "a failed download leaves no folders behind"


def test_no_download_flag(tmp_path):
    with pytest.raises(DataError, match="not in"):
        cifar10.load_cifar10(tmp_path, allow_download=False)


def test_garbage_archive_is_refused(tmp_path):
    (tmp_path / cifar10.ARCHIVE).write_bytes(b"not a tarball" * 100)
    with pytest.raises(DataError, match="md5"):
        cifar10.load_cifar10(tmp_path, allow_download=False)


def test_batch_reader_refuses_pickled_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(pickle.UnpicklingError):
        cifar10.read_batch(path)
    assert not (tmp_path / "pwned").exists()


def test_corrupted_batch_after_extraction_is_detected(fake_cifar, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    os.link(fake_cifar["archive"], root / cifar10.ARCHIVE)
    cifar10.ensure_cifar10(root, allow_download=False)
    (root / cifar10.FOLDER / "test_batch").write_bytes(b"garbage")
    assert not cifar10.batches_ok(root / cifar10.FOLDER)
    # the archive is still good, so ensure re-extracts it
    assert cifar10.batches_ok(cifar10.ensure_cifar10(root, allow_download=False))


def test_pickled_rows_reshape_like_torchvision(fake_cifar, tmp_path):
    """Our reshape matches torchvision's own reading of the same (fake) batch."""
    root = tmp_path / "data"
    root.mkdir()
    os.link(fake_cifar["archive"], root / cifar10.ARCHIVE)
    cifar10.ensure_cifar10(root, allow_download=False)
    ours, _ = cifar10.read_batch(root / cifar10.FOLDER / "test_batch")
    data, _ = fake_cifar["contents"]["test_batch"]
    tv = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # torchvision keeps HWC
    assert np.array_equal(ours.transpose(0, 2, 3, 1), tv)


def test_stop_during_download_leaves_nothing(fake_cifar, tmp_path, monkeypatch):
    import threading

    from core.data import load_raw
    from core.errors import Cancelled

    monkeypatch.setattr(cifar10, "URL", fake_cifar["archive"].as_uri())
    stop = threading.Event()
    stop.set()
    root = tmp_path / "dl"
    with pytest.raises(Cancelled):
        load_raw("cifar10", root, stop=stop)
    assert not root.exists()


def test_fit_stopped_while_loading_writes_nothing(image_folder, tmp_path):
    import threading

    from core.config.train_config import TrainConfig
    from core.runs.events import RunFinished
    from core.train import fit

    stop = threading.Event()
    stop.set()
    events = []
    result = fit(TrainConfig(dataset="folder", data=str(image_folder), arch="simplecnn", device="cpu",
                             runs_dir=str(tmp_path / "runs")), events.append, stop)
    assert result.status == "stopped" and result.run_dir is None
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    assert not (tmp_path / "runs").exists()


def test_a_cifar10_run_normalises_with_the_cifar_statistics(fake_cifar, tmp_path, monkeypatch):
    """The fake archive's pixels are uniform noise (their own mean and std are far from CIFAR's), so
    only a run that really uses CIFAR10_MEAN/STD feeds the model values that map back to whole pixels."""
    from core.config.train_config import TrainConfig
    from core.data import CIFAR10_MEAN, CIFAR10_STD
    from core.models.base import Classifier
    from core.train import fit

    root = tmp_path / "data"
    root.mkdir()
    os.link(fake_cifar["archive"], root / cifar10.ARCHIVE)
    seen = []
    real = Classifier.forward
    monkeypatch.setattr(Classifier, "forward", lambda self, x: seen.append(x.detach().clone()) or real(self, x))
    result = fit(TrainConfig(dataset="cifar10", data=str(root), download=False, arch="simplecnn", epochs=1,
                             batch_size=20, crop_padding=0, flip=False, device="cpu", runs_dir=str(tmp_path / "runs")))
    assert result.status == "completed"
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    pixels = (seen[0] * std + mean) * 255
    assert torch.allclose(pixels, pixels.round(), atol=1e-2) and pixels.min() >= -0.01 and pixels.max() <= 255.01
    saved = torch.load(result.run_dir / "final.pt", weights_only=True)
    assert tuple(saved["mean"]) == CIFAR10_MEAN and tuple(saved["std"]) == CIFAR10_STD
