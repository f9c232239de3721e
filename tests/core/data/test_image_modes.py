"""Images in every Pillow mode, animated GIFs and EXIF orientations become the right RGB through
core.data.folder.decode_image; a new decoder version invalidates the tensor cache."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from helpers import build_image_folder, load_images
from image_builders import chunk, reference, saved
from PIL import Image

from core.data import folder
from core.data.folder import decode_image


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
@pytest.mark.parametrize("width,height", [(512, 384), (1001, 750)])  # 1001 x 750: a reduced decode ends mid-pixel
def test_the_exif_orientation_is_applied(tmp_path, orientation, width, height):
    from PIL import ImageOps

    from core.data.folder import centre_box

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = saved(tmp_path / f"o{orientation}.jpg", quadrants(width, height), quality=95, exif=exif.tobytes())
    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)  # what an image viewer shows
    corners = lambda a: [tuple(a[:, y, x]) for y, x in ((4, 4), (4, 27), (27, 4), (27, 27))]  # noqa: E731
    for fit in ("squash", "centre"):  # the whole picture; the centred square evaluation takes after rrc
        out = decode_image(path, 32, fit).astype(int)
        part = upright if fit == "squash" else upright.crop(tuple(round(v) for v in centre_box(*upright.size)))
        got, want = corners(out), corners(reference(part))
        assert all(np.abs(np.subtract(g, w)).max() <= 8 for g, w in zip(got, want)), (fit, got, want)


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
    load_images(root, 32)
    calls = []
    real = folder.decode_image
    monkeypatch.setattr(folder, "decode_image", lambda p, s, *a: calls.append(p) or real(p, s, *a))
    load_images(root, 32)
    assert calls == []
    monkeypatch.setattr(folder, "DECODER_VERSION", folder.DECODER_VERSION + 1)
    load_images(root, 32)
    assert len(calls) == 6
