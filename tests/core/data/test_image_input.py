"""Images that are huge, malformed or unusual, through core.data.folder.decode_image (which predict uses too).

Every bad file is made here, in tmp_path: a decompression bomb is a small PNG whose header claims
20000x20000 pixels (Pillow refuses it from the header, so the missing pixel data never matters).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import build_image_folder, cache_entries, load_images
from image_builders import chunk, claim_size, photo, png_bytes, reference, saved, write_bomb
from PIL import Image

from core.data.folder import decode_image
from core.errors import DataError


def assert_one_line_naming(e: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(e.value)
    assert "\n" not in message and str(path) in message, message
    for w in words:  # Pillow's own words keep their case: "Decompressed Data Too Large" before Pillow 11
        assert w.lower() in message.lower(), message


# ------------------------------------------------------------------ decompression bombs
def test_a_decompression_bomb_is_an_error_naming_the_file(tmp_path):
    bomb = write_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200
    with pytest.raises(DataError) as e:
        decode_image(bomb, 32)
    assert_one_line_naming(e, bomb, "400,000,000 pixels", "89,478,485")


def test_one_limit_holds_between_the_limit_and_twice_it_and_nothing_is_printed(tmp_path):
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; here those images are refused the same way
    between = write_bomb(tmp_path / "between.png", 10000, 10000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as e:
            decode_image(between, 32)
    assert_one_line_naming(e, between, "10000x10000", "100,000,000 pixels")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_the_limit_is_pillows_own_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    small, large = tmp_path / "30.png", tmp_path / "40.png"
    small.write_bytes(png_bytes(30, 30))  # 900 pixels
    large.write_bytes(png_bytes(40, 40))  # 1,600: within twice the limit, where Pillow would only warn
    assert decode_image(small, 32).shape == (3, 32, 32)
    with pytest.raises(DataError) as e:
        decode_image(large, 32)
    assert_one_line_naming(e, large, "40x40", "1,000 allowed")


def test_a_bomb_in_a_folder_stops_loading_or_is_skipped_and_counted(tmp_path):
    root = build_image_folder(tmp_path / "imgs", train_per_class=2, test_per_class=1)
    bomb = write_bomb(root / "train" / "cat" / "bomb.png")
    with pytest.raises(DataError) as e:
        load_images(root, 32)
    assert_one_line_naming(e, bomb, "pixels")
    assert cache_entries() == []
    notes: list[str] = []
    train, test, _ = load_images(root, 32, skip_bad=True, note=notes.append)
    assert len(train) == 6 and len(test) == 3
    assert notes == ["skipped 1 unreadable image in the train split"]


# ------------------------------------------------------------------ big images under the limit
@pytest.mark.parametrize("width,height,decoded", [(2000, 1500, (250, 188)), (500, 375, (125, 94))])
def test_a_big_jpeg_is_decoded_at_reduced_scale_close_to_a_full_decode(tmp_path, monkeypatch, width, height, decoded):
    path = saved(tmp_path / "big.jpg", photo(width, height), quality=92)
    resized_from = []
    real_resize = Image.Image.resize

    def spy(im, *args, **kwargs):
        resized_from.append(im.size)
        return real_resize(im, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    out = decode_image(path, 32).astype(int)
    assert resized_from == [decoded]  # libjpeg decoded at 1/8 or 1/4 scale, still at least 2 x 32 on each side
    monkeypatch.setattr(Image.Image, "resize", real_resize)
    with Image.open(path) as im:
        diff = np.abs(out - reference(im))
    assert diff.mean() < 0.5 and diff.max() <= 3, (diff.mean(), diff.max())


def test_a_jpeg_near_the_target_size_is_decoded_in_full(tmp_path):
    path = saved(tmp_path / "small.jpg", photo(100, 80), quality=95)
    with Image.open(path) as im:
        assert np.abs(decode_image(path, 32).astype(int) - reference(im)).max() == 0


def test_tiny_images_are_scaled_up(tmp_path):
    one = tmp_path / "one.png"
    one.write_bytes(png_bytes(1, 1, (10, 200, 30)))
    out = decode_image(one, 32)
    assert out.shape == (3, 32, 32) and (out[:, 0, 0] == [10, 200, 30]).all() and (out == out[:, :1, :1]).all()


# ------------------------------------------------------------------ malformed files
def jpeg_bytes(width: int = 512, height: int = 384) -> bytes:
    buf = io.BytesIO()
    photo(width, height).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("size", [32, 384], ids=["reduced-scale", "full-scale"])
def test_a_truncated_jpeg_is_an_error_not_grey(tmp_path, size):
    data = jpeg_bytes()
    half = tmp_path / "half.jpg"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        decode_image(half, size)
    assert_one_line_naming(e, half, "truncated")


@pytest.mark.parametrize(
    "name,make,words",
    [
        ("huge-text.png", lambda: png_bytes(8, 8, extra=chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"a" * 5_000_000))),
         ["too large"]),
        ("zero.png", lambda: claim_size(png_bytes(8, 8), 0, 0), ["not a JPEG, PNG", "header is damaged"]),
        ("empty.jpg", lambda: b"", ["not a JPEG, PNG"]),
        ("text.png", lambda: b"hello\nworld\n", ["not a JPEG, PNG"]),
        ("half.png", lambda: png_bytes(64, 64)[:60], ["truncated"]),
        # an icon is a format Pillow reads, but not one of the image extensions: it is refused, not decoded
        ("icon.png", lambda: (lambda b: (Image.new("RGB", (16, 16)).save(b, "ICO"), b.getvalue())[1])(io.BytesIO()),
         ["not a JPEG, PNG"]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_files_are_one_line_errors_naming_the_file(tmp_path, name, make, words):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(DataError) as e:
        decode_image(path, 32)
    assert_one_line_naming(e, path, *words)


@pytest.mark.parametrize(
    "raised,words",
    [
        # a damaged chunk length can make Pillow ask for gigabytes (fuzzing found one in a 16-bit PNG)
        (MemoryError(), ["needs more memory"]),
        # older Pillow versions raise struct.error, IndexError, TypeError... on some malformed headers
        (struct.error("unpack requires\na buffer"), ["unpack requires a buffer"]),
        (IndexError(), ["IndexError"]),
    ],
    ids=["MemoryError", "struct.error", "IndexError"],
)
def test_whatever_pillow_raises_on_a_file_is_an_error_naming_it(tmp_path, monkeypatch, raised, words):
    path = tmp_path / "ok.png"
    path.write_bytes(png_bytes(8, 8))

    def convert(self, *args, **kwargs):
        raise raised

    monkeypatch.setattr(Image.Image, "convert", convert)
    with pytest.raises(DataError) as e:
        decode_image(path, 32)
    assert_one_line_naming(e, path, *words)
