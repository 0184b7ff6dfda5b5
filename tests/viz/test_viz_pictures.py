"""Visualisations: sizes, exact colours, legends, outlines and layout."""

from __future__ import annotations

import doctest
import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from chainlang.errors import UsageError
from chainlang.image import ImageData
from chainlang.reporting import pictures as viz
from chainlang.reporting.pictures import (
    BLACK,
    GREY,
    boxes_image,
    class_color,
    depth_image,
    depth_lut,
    instance_image,
    label_color,
    label_rect,
    legend_strip,
    normal_image,
    output_image,
    regions_image,
    semantic_image,
    side_by_side,
    to_png,
)


@dataclass(frozen=True)
class Box:
    """Stand-in for the dataset's Box: only the attributes viz reads."""

    label: str
    x0: int
    y0: int
    x1: int
    y1: int


@pytest.fixture
def photo() -> np.ndarray:
    """A 40×60 RGB gradient, so that any change to a pixel is visible."""
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=2).astype(np.uint8)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """CIE Y of sRGB colours (monotone in perceived lightness)."""
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def test_doctests_pass() -> None:
    result = doctest.testmod(viz)
    assert result.attempted > 0 and result.failed == 0


class TestDepth:
    def test_colormap_is_monotone_in_luminance_and_injective(self) -> None:
        lut = depth_lut()
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
        assert np.all(np.diff(_luminance(lut.astype(float))) > 0)
        assert len({tuple(c) for c in lut}) == 256

    def test_ramp_maps_near_to_bright_and_keeps_order(self) -> None:
        ramp = np.linspace(1.0, 10.0, 256, dtype=np.float32)[None, :]
        out = np.array(depth_image(ramp, percentiles=(0, 100)))
        lum = _luminance(out[0].astype(float))
        assert np.all(np.diff(lum) < 0)  # farther is darker
        assert tuple(out[0, 0]) == tuple(depth_lut()[-1])
        reversed_ = np.array(depth_image(ramp, percentiles=(0, 100), near_bright=False))
        assert np.all(np.diff(_luminance(reversed_[0].astype(float))) > 0)

    def test_invalid_pixels_are_grey_and_not_a_colormap_colour(self) -> None:
        depth = np.full((4, 5), 3.0, dtype=np.float32)
        depth[0, 0], depth[1, 1], depth[2, 2], depth[3, 3] = 0.0, np.nan, -1.0, np.inf
        out = np.array(depth_image(depth))
        for y, x in [(0, 0), (1, 1), (2, 2), (3, 3)]:
            assert tuple(out[y, x]) == GREY
        assert tuple(out[0, 1]) != GREY
        assert GREY not in {tuple(c) for c in depth_lut()}

    def test_robust_range_ignores_outliers(self) -> None:
        depth = np.tile(np.linspace(1, 2, 100), (10, 1))
        depth[0, 0] = 1000.0  # one absurd pixel must not flatten the rest
        out = np.array(depth_image(depth))
        assert len({tuple(c) for c in out[5]}) > 50

    def test_shared_range_makes_pictures_comparable(self) -> None:
        truth = np.array([[1.0, 4.0]])
        pred = np.array([[2.0, 2.0]])
        a = np.array(depth_image(pred, value_range=(1.0, 4.0)))
        b = np.array(depth_image(truth * 0 + 2.0, value_range=(1.0, 4.0)))
        assert np.array_equal(a, b)

    def test_all_invalid_and_bad_shapes(self) -> None:
        assert np.all(np.array(depth_image(np.zeros((3, 3)))) == GREY)
        with pytest.raises(UsageError, match="H×W"):
            depth_image(np.zeros((3, 3, 1)))
        with pytest.raises(UsageError, match="near <= far"):
            depth_image(np.ones((2, 2)), value_range=(5.0, 1.0))


class TestNormals:
    def test_standard_rgb_encoding(self) -> None:
        n = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, -1, 0]]], dtype=np.float32)
        out = np.array(normal_image(n))
        assert [tuple(c) for c in out[0]] == [
            (255, 128, 128),  # +x right → red
            (128, 255, 128),  # +y up → green
            (128, 128, 255),  # +z to camera → blue
            (128, 0, 128),
        ]

    def test_normalises_and_greys_invalid(self) -> None:
        n = np.array([[[0, 0, 5], [np.nan, 0, 1], [0, 0, 0]]], dtype=np.float32)
        out = np.array(normal_image(n))
        assert tuple(out[0, 0]) == (128, 128, 255)
        assert tuple(out[0, 1]) == GREY and tuple(out[0, 2]) == GREY

    def test_wrong_shape(self) -> None:
        with pytest.raises(UsageError, match="H×W×3"):
            normal_image(np.zeros((2, 2)))


class TestSemantic:
    def test_pixels_get_their_class_colour_and_ignore_is_black(self) -> None:
        mask = np.array([[0, 7, 255], [42, 7, 0]], dtype=np.uint8)
        out = semantic_image(mask, legend=False)
        assert out.size == (3, 2) and out.mode == "RGB"
        assert out.getpixel((1, 0)) == class_color(7)
        assert out.getpixel((0, 1)) == class_color(42)
        assert out.getpixel((2, 0)) == BLACK

    def test_legend_names_the_classes_present_in_id_order(self) -> None:
        names = ["sky", "road", "car", "tree"]
        mask = np.array([[3, 3, 1], [1, 255, 3]], dtype=np.uint8)
        mask = np.kron(mask, np.ones((20, 40), dtype=np.uint8))  # 120×40 picture
        out = semantic_image(mask, names)
        expected = legend_strip([("road", class_color(1)), ("tree", class_color(3))], 120)
        assert out.size == (120, 40 + expected.height)
        legend = out.crop((0, 40, 120, out.height))
        assert np.array_equal(np.array(legend), np.array(expected))
        # Names are really drawn: another name or an absent class changes the strip.
        other = legend_strip([("road", class_color(1)), ("bush", class_color(3))], 120)
        assert not np.array_equal(np.array(legend), np.array(other))
        with_sky = legend_strip(
            [("sky", class_color(0)), ("road", class_color(1)), ("tree", class_color(3))], 120
        )
        assert not np.array_equal(np.array(legend), np.array(with_sky)[: legend.height])

    def test_legend_wraps_and_unnamed_classes_get_ids(self) -> None:
        entries = [(f"class {k}", class_color(k)) for k in range(12)]
        narrow, wide = legend_strip(entries, 80), legend_strip(entries, 2000)
        assert narrow.height > wide.height and narrow.width == 80
        mask = np.array([[17, 17]], dtype=np.uint8)
        out = semantic_image(mask, {3: "cat"})
        strip = legend_strip([("class 17", class_color(17))], 2)
        assert np.array_equal(np.array(out)[1:], np.array(strip))

    def test_overlay_blends_and_leaves_ignored_pixels(self, photo: np.ndarray) -> None:
        mask = np.full(photo.shape[:2], 2, dtype=np.uint8)
        mask[0, 0] = 255
        out = np.array(semantic_image(mask, image=ImageData.of(photo), alpha=0.5, legend=False))
        assert tuple(out[0, 0]) == tuple(photo[0, 0])
        expected = np.round(0.5 * photo[5, 5] + 0.5 * np.array(class_color(2)))
        assert np.array_equal(out[5, 5], expected)

    def test_bad_masks(self, photo: np.ndarray) -> None:
        with pytest.raises(UsageError, match="integer"):
            semantic_image(np.zeros((2, 2), dtype=np.float32))
        with pytest.raises(UsageError, match="but the image is 60×40"):
            semantic_image(np.zeros((3, 3), dtype=np.uint8), image=photo)


class TestPalette:
    def test_deterministic_distinct_and_never_black_or_grey(self) -> None:
        colours = [class_color(k) for k in range(255)]
        assert len(set(colours)) == 255
        assert BLACK not in colours and GREY not in colours
        assert label_color("dog") == label_color("dog") != label_color("cat")


class TestInstances:
    def test_fill_and_outline_only_on_instances(self, photo: np.ndarray) -> None:
        ids = np.zeros(photo.shape[:2], dtype=np.int32)
        ids[10:20, 10:30] = 1
        ids[25:35, 35:55] = 2
        out = np.array(instance_image(photo, ids, alpha=0.5))
        background = ids == 0
        assert np.array_equal(out[background], photo[background])
        assert tuple(out[10, 15]) == class_color(1)  # top edge: solid outline
        assert tuple(out[30, 45]) != class_color(2)  # interior: blended, not solid
        assert np.array_equal(
            out[30, 45], np.round(0.5 * photo[30, 45] + 0.5 * np.array(class_color(2)))
        )

    def test_size_mismatch(self, photo: np.ndarray) -> None:
        with pytest.raises(UsageError, match="instance mask"):
            instance_image(photo, np.zeros((5, 5), dtype=np.int32))


class TestBoxes:
    def test_only_outline_and_label_area_change(self, photo: np.ndarray) -> None:
        box = Box("dog", 10, 15, 40, 35)
        out = np.array(boxes_image(photo, [box], width=2))
        changed = np.any(out != photo, axis=2)
        allowed = np.zeros_like(changed)
        allowed[15:35, 10:40] = True
        allowed[17:33, 12:38] = False  # inside the 2-px outline stays untouched
        tx0, ty0, tx1, ty1 = label_rect("dog", 10, 15, (60, 40))
        allowed[ty0:ty1, tx0:tx1] = True
        assert changed.any()
        assert not np.any(changed & ~allowed)
        # The outline is drawn all round, in the label's colour.
        colour = label_color("dog")
        for y, x in [(34, 20), (25, 10), (25, 39), (34, 39)]:
            assert tuple(out[y, x]) == colour

    def test_label_moves_inside_at_the_top_edge_and_stays_in_image(self) -> None:
        rect = label_rect("a long label", 55, 0, (60, 40))
        assert rect[1] == 0 and rect[2] <= 60 and rect[0] >= 0

    def test_label_text_is_drawn(self, photo: np.ndarray) -> None:
        a = np.array(boxes_image(photo, [("cat", 10, 20, 40, 35)]))
        b = np.array(boxes_image(photo, [Box("cat", 10, 20, 40, 35)]))
        assert np.array_equal(a, b)
        tx0, ty0, tx1, ty1 = label_rect("cat", 10, 20, (60, 40))
        tag = a[ty0:ty1, tx0:tx1].reshape(-1, 3)
        assert len({tuple(c) for c in tag}) > 2  # background plus glyph pixels

    def test_empty_box_is_an_error(self, photo: np.ndarray) -> None:
        with pytest.raises(UsageError, match="box 'x' is empty"):
            boxes_image(photo, [("x", 5, 5, 5, 9)])


class TestRegions:
    def test_outlines_and_highlight(self, photo: np.ndarray) -> None:
        regions = np.ones(photo.shape[:2], dtype=np.int32)
        regions[:, 30:] = 2
        out = np.array(regions_image(photo, regions, highlight=[2], colour=(255, 0, 0)))
        assert tuple(out[10, 29]) == (255, 255, 255)  # shared border, region 1 side
        assert tuple(out[10, 31]) == (255, 0, 0)  # highlighted region's thick outline
        assert np.array_equal(out[10, 5], photo[10, 5])  # region 1 interior untouched
        assert not np.array_equal(out[20, 45], photo[20, 45])  # highlighted interior tinted


class TestLayout:
    def test_side_by_side_sizes_and_titles(self, photo: np.ndarray) -> None:
        a = Image.fromarray(photo)
        small = Image.fromarray(photo[::2, ::2])  # 30×20, scaled up to 40 high
        out = side_by_side([("input", a), ("prediction", small), ("truth", a)], pad=6)
        assert out.mode == "RGB"
        assert out.size == (60 + 60 + 60 + 4 * 6, 14 + 12 + 40 + 6)
        title_band = np.array(out)[:26]
        assert np.any(title_band != 255)  # titles are drawn
        assert np.array_equal(np.array(out)[26:66, 6:66], photo)

    def test_long_titles_are_truncated_to_their_panel(self, photo: np.ndarray) -> None:
        img = Image.fromarray(photo)
        short = side_by_side([("x" * 200, img)])
        assert short.width == 60 + 12
        band = np.array(short)[:26]  # title band: font 14 + 2 × pad 6
        assert np.any(band[:, 6:66] != 255)  # the (shortened) title is drawn over the panel
        assert np.all(band[:, :6] == 255) and np.all(band[:, 66:] == 255)  # not beyond it

    def test_empty(self) -> None:
        with pytest.raises(UsageError, match="at least one panel"):
            side_by_side([])

    def test_png_round_trip(self, photo: np.ndarray) -> None:
        data = to_png(Image.fromarray(photo))
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert np.array_equal(np.array(Image.open(io.BytesIO(data))), photo)


class TestOutputs:
    def test_relative_depth_is_shifted_not_greyed(self) -> None:
        nearness = np.array([[-2.0, -1.0], [0.0, 1.5]])  # a chain's depth: −nearness
        out = np.array(output_image("DepthMap", nearness, np.zeros((2, 2, 3), np.uint8)))
        assert not np.any(np.all(out == GREY, axis=2))
        assert np.array_equal(out, np.array(depth_image(nearness + 3.0)))
        metric = np.array([[1.0, 2.0], [0.0, 4.0]])  # positive depth: 0 stays invalid
        out = np.array(output_image("DepthMap", metric, np.zeros((2, 2, 3), np.uint8)))
        assert np.array_equal(out, np.array(depth_image(metric)))
        # A prediction's 0 is a value like any other, not a hole.
        out = np.array(
            output_image("DepthMap", metric, np.zeros((2, 2, 3), np.uint8), prediction=True)
        )
        assert not np.any(np.all(out == GREY, axis=2))
        assert np.array_equal(out, np.array(depth_image(metric + 1.0)))

    def test_each_kind_is_drawn_by_its_function(self, photo: np.ndarray) -> None:
        mask = np.zeros(photo.shape[:2], dtype=np.uint8)
        mask[:, 30:] = 1
        pairs = [
            (
                output_image("SemanticMask", mask, photo, names=["sky", "road"]),
                semantic_image(mask, ["sky", "road"], image=photo),
            ),
            (output_image("InstanceMask", mask, photo), instance_image(photo, mask)),
            (
                output_image("Boxes", [("dog", 5, 5, 20, 20)], photo),
                boxes_image(photo, [("dog", 5, 5, 20, 20)]),
            ),
            (
                output_image("NormalMap", np.ones((4, 4, 3)), photo),
                normal_image(np.ones((4, 4, 3))),
            ),
            (
                output_image("Label", "tabby cat", photo),
                side_by_side([("tabby cat", Image.fromarray(photo))]),
            ),
        ]
        for got, want in pairs:
            assert np.array_equal(np.array(got), np.array(want))
