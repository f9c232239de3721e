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
from helpers import build_image_folder
from PIL import Image

from core.data import folder
from core.data.cache import CACHE_DIR
from core.data.folder import decode_image, load_folder
from core.errors import DataError


# ------------------------------------------------------------------ file builders
def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, colour=(200, 40, 40), extra: bytes = b"") -> bytes:
    """A valid 8-bit RGB PNG of one colour; ``extra`` chunks go before the pixel data."""
    row = b"\x00" + bytes(colour) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def claim_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG ``data`` with its header rewritten to claim width x height (and a valid CRC)."""
    header = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + data[33:]


def write_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(claim_size(png_bytes(8, 8), width, height))
    return path


def saved(path: Path, im: Image.Image, **kwargs) -> Path:
    im.save(path, **kwargs)
    return path


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth, photo-like content (a random field blown up), so resizing differences show."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8))
    return small.resize((width, height), Image.Resampling.BICUBIC)


def reference(im: Image.Image, size: int = 32) -> np.ndarray:
    """A full decode, then resize: what decode_image is allowed to approximate."""
    return np.array(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)).transpose(2, 0, 1).astype(int)


def assert_one_line_naming(e: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(e.value)
    assert "\n" not in message and str(path) in message, message
    for w in words:
        assert w in message, message


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
        load_folder(root, 32)
    assert_one_line_naming(e, bomb, "pixels")
    assert not (root / CACHE_DIR).exists()
    notes: list[str] = []
    train, test, _ = load_folder(root, 32, skip_bad=True, note=notes.append)
    assert len(train) == 6 and len(test) == 3
    assert notes == ["skipped 1 unreadable image in train/"]


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


# ------------------------------------------------------------------ modes
def filled(value, dtype) -> Image.Image:
    return Image.fromarray(np.full((8, 8), value, dtype=dtype))


def pgm(maxval: int, value: int) -> bytes:
    return f"P5 8 8 {maxval}\n".encode() + np.full((8, 8), value, ">u2").tobytes()


def rgb16_png() -> bytes:
    row = b"\x00" + struct.pack(">HHH", 40000, 0, 65535) * 8
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * 8)) + chunk(b"IEND", b""))


ORANGE = Image.new("RGB", (8, 8), (200, 100, 50))
MODES = [
    # (file name, how to write it, expected RGB of every pixel, tolerance)
    ("grey16.png", lambda p: saved(p, filled(40000, np.uint16)), (156, 156, 156), 1),  # Pillow alone: white
    ("grey16.tif", lambda p: saved(p, filled(40000, np.uint16)), (156, 156, 156), 1),
    ("grey16.pgm", lambda p: p.write_bytes(pgm(65535, 40000)), (156, 156, 156), 1),
    ("grey10.pgm", lambda p: p.write_bytes(pgm(1023, 1000)), (249, 249, 249), 1),
    ("float.tif", lambda p: saved(p, filled(0.5, np.float32)), (128, 128, 128), 1),  # Pillow alone: black
    ("palette.png", lambda p: saved(p, ORANGE.quantize(4)), (200, 100, 50), 0),
    ("palette-transparent.gif", lambda p: saved(p, ORANGE.quantize(4), transparency=0), (200, 100, 50), 0),
    ("grey-alpha.png", lambda p: saved(p, Image.new("LA", (8, 8), (100, 50))), (100, 100, 100), 0),
    ("rgba.png", lambda p: saved(p, Image.new("RGBA", (8, 8), (10, 20, 30, 0))), (10, 20, 30), 0),
    ("bilevel.png", lambda p: saved(p, Image.new("1", (8, 8), 1)), (255, 255, 255), 0),
    ("cmyk.jpg", lambda p: saved(p, Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=95), (255, 0, 0), 2),
    ("cmyk.tif", lambda p: saved(p, Image.new("CMYK", (8, 8), (0, 255, 255, 0))), (255, 0, 0), 0),
    ("rgb16.png", lambda p: p.write_bytes(rgb16_png()), (156, 0, 255), 1),
]


@pytest.mark.parametrize("name,write,rgb,tolerance", MODES, ids=[m[0] for m in MODES])
def test_every_mode_becomes_the_right_rgb(tmp_path, name, write, rgb, tolerance):
    path = tmp_path / name
    write(path)
    out = decode_image(path, 32).astype(int)
    assert np.abs(out - np.array(rgb).reshape(3, 1, 1)).max() <= tolerance, (name, out[:, 0, 0])


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c).quantize(4) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    path = saved(tmp_path / "anim.gif", frames[0], save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as im:
        assert im.n_frames == 3
    out = decode_image(path, 32)
    assert (out[:, 0, 0] == [200, 0, 0]).all() and (out == out[:, :1, :1]).all()


# ------------------------------------------------------------------ EXIF orientation
def quadrants(width: int = 512, height: int = 384) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    a = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = height // 2, width // 2
    a[:h, :w] = (255, 0, 0)
    a[:h, w:] = (0, 255, 0)
    a[h:, :w] = (0, 0, 255)
    a[h:, w:] = (255, 255, 255)
    return Image.fromarray(a)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_exif_orientation_is_applied(tmp_path, orientation):
    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = saved(tmp_path / f"o{orientation}.jpg", quadrants(), quality=95, exif=exif.tobytes())
    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)  # what an image viewer shows
    out = decode_image(path, 32).astype(int)
    corners = lambda a: [tuple(a[:, y, x]) for y, x in ((4, 4), (4, 27), (27, 4), (27, 27))]  # noqa: E731
    expected = reference(upright)
    got, want = corners(out), corners(expected)
    assert all(np.abs(np.subtract(g, w)).max() <= 8 for g, w in zip(got, want)), (got, want)


def test_damaged_exif_is_ignored(tmp_path, monkeypatch):
    damaged = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff"  # claims 65535 tags, holds none
    path = saved(tmp_path / "exif.jpg", quadrants(64, 48), quality=95, exif=damaged)
    stored = decode_image(path, 32)
    assert stored.shape == (3, 32, 32)
    # Pillow 13 shrugged off all of 3,000 randomly damaged EXIF blocks; should getexif() ever raise,
    # the image is still decoded, as stored

    def broken(self):
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(Image.Image, "getexif", broken)
    assert (decode_image(path, 32) == stored).all()


# ------------------------------------------------------------------ the cache follows the decoder
def test_a_new_decoder_version_invalidates_the_tensor_cache(tmp_path, monkeypatch):
    root = build_image_folder(tmp_path / "imgs", train_per_class=1, test_per_class=1)
    load_folder(root, 32)
    calls = []
    real = folder.decode_image
    monkeypatch.setattr(folder, "decode_image", lambda p, s: calls.append(p) or real(p, s))
    load_folder(root, 32)
    assert calls == []
    monkeypatch.setattr(folder, "DECODER_VERSION", folder.DECODER_VERSION + 1)
    load_folder(root, 32)
    assert len(calls) == 6
