"""Robust image loading: every odd image becomes upright RGB or a clear DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chainlang.data.images import image_size, load_image
from chainlang.errors import DataError


def test_rgb_png_round_trips_exactly(tmp_path: Path) -> None:
    px = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(px).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.size == (7, 5)
    np.testing.assert_array_equal(img.pixels, px)


def test_sixteen_bit_gray_scales_instead_of_clipping(tmp_path: Path) -> None:
    arr = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    px = load_image(tmp_path / "g16.png").pixels
    np.testing.assert_array_equal(px[0, :, 0], [0, 100, 255])
    np.testing.assert_array_equal(px[..., 0], px[..., 2])


def test_gray_is_replicated_to_three_channels(tmp_path: Path) -> None:
    Image.fromarray(np.array([[10, 200]], dtype=np.uint8)).save(tmp_path / "l.png")
    np.testing.assert_array_equal(load_image(tmp_path / "l.png").pixels[0], [[10] * 3, [200] * 3])


def test_palette_transparency_composites_on_white(tmp_path: Path) -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    im.info["transparency"] = 1
    im.save(tmp_path / "p.png", transparency=1)
    px = load_image(tmp_path / "p.png").pixels
    np.testing.assert_array_equal(px[0], [[255, 0, 0], [255, 255, 255]])


def test_rgba_composites_on_white(tmp_path: Path) -> None:
    rgba = np.array([[[0, 0, 0, 255], [0, 0, 0, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    px = load_image(tmp_path / "a.png").pixels
    np.testing.assert_array_equal(px[0, :, 0], [0, 255, 127])


def test_gray_alpha_composites_on_white(tmp_path: Path) -> None:
    la = np.array([[[50, 0], [50, 255]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png").pixels[0, :, 1], [255, 50])


def test_cmyk_converts_to_rgb(tmp_path: Path) -> None:
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0]]], dtype=np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    px = load_image(tmp_path / "c.tif").pixels
    np.testing.assert_array_equal(px[0], [[255, 255, 255], [0, 255, 255]])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    px = np.zeros((20, 30, 3), dtype=np.uint8)
    px[:10, :10] = [255, 0, 0]  # red block at the stored top-left
    im = Image.fromarray(px)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    img = load_image(tmp_path / "r.jpg")
    assert img.size == (20, 30)
    assert image_size(tmp_path / "r.jpg") == (20, 30)
    # After a clockwise quarter turn the stored top-left is shown at the top-right.
    assert img.pixels[5, 15, 0] > 200 and img.pixels[5, 5, 0] < 60


def test_truncated_file_is_a_data_error(tmp_path: Path) -> None:
    px = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(px).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"t\.png"):
        load_image(tmp_path / "t.png")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("empty.png", b"", "empty"), ("text.png", b"not an image at all", "cannot read")],
)
def test_unreadable_files_are_data_errors(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_image(tmp_path / name)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_pixel_cap_is_configurable(tmp_path: Path) -> None:
    Image.new("RGB", (40, 40)).save(tmp_path / "s.png")
    assert load_image(tmp_path / "s.png", max_pixels=1600).size == (40, 40)
    with pytest.raises(DataError, match="too large"):
        load_image(tmp_path / "s.png", max_pixels=1599)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # A 1-bit image of 182 MP compresses to a tiny file; both our cap and Pillow's refuse it.
    Image.new("1", (13000, 14000)).save(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 1_000_000
    with pytest.raises(DataError, match="too large"):
        load_image(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="too large"):
        load_image(tmp_path / "bomb.png", max_pixels=10**9)
