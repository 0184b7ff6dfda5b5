"""Image answers: reading generated images back into maps, and rendering maps as images.

The renderers are the inverses the oracle answerers use for image-generation
asks; they follow the same conventions as the readers.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from chainlang.errors import OperationError
from chainlang.image import ImageData
from chainlang.vision.values import Mask, as_point


def gray_depth(image: ImageData, white_is_near: bool = True) -> np.ndarray:
    """A depth map from a grayscale rendering: intensity turned into "larger is farther".

    Luminance uses PIL's ITU-R 601 conversion. Values are shifted into
    1..256 because 0 means "no depth" in depth maps; only their order and
    affine fit matter downstream.
    """
    gray = np.asarray(Image.fromarray(image.pixels).convert("L"), dtype=np.float32)
    far = 255.0 - gray if white_is_near else gray
    return far + 1.0


def rgb_normals(image: ImageData) -> np.ndarray:
    """Unit normals from a standard RGB normal map (R = +x right, G = +y up, B = +z to camera).

    This is also chainlang's NormalMap convention, so no axis is flipped. A
    pixel that decodes to the zero vector stays zero ("no data").
    """
    vectors = image.pixels.astype(np.float32) / 127.5 - 1.0
    lengths = np.linalg.norm(vectors, axis=2, keepdims=True)
    return np.divide(vectors, lengths, out=np.zeros_like(vectors), where=lengths > 1e-6)


def red_mask(image: ImageData) -> Mask:
    """The largest 8-connected strongly red blob, cleaned like the reference.

    Red means hue in [0, 3] or [177, 180] on OpenCV's 0–180 scale, saturation
    ≥ 80 and value ≥ 50 on 0–255; then a morphological close and open with a
    7 x 7 ellipse (OpenCV's shape and border rules), then the largest component.
    """
    hue, sat, val = _opencv_hsv(image.pixels)
    red = ((hue <= 3) | (hue >= 177)) & (sat >= 80) & (val >= 50)
    kernel = _opencv_ellipse(7)
    # OpenCV treats pixels outside the image as neutral for both operations:
    # background for dilation, foreground for erosion.
    closed = ndimage.binary_erosion(
        ndimage.binary_dilation(red, kernel, border_value=0), kernel, border_value=1
    )
    opened = ndimage.binary_dilation(
        ndimage.binary_erosion(closed, kernel, border_value=1), kernel, border_value=0
    )
    components, n = ndimage.label(opened, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return Mask(np.zeros(red.shape, dtype=bool))
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return Mask(components == int(np.argmax(sizes)))


def _opencv_hsv(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (0–180), saturation and value (0–255) as OpenCV computes them for uint8 RGB."""
    rgb = pixels.astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=2)
    spread = v - rgb.min(axis=2)
    s = np.divide(255.0 * spread, v, out=np.zeros_like(v), where=v > 0)
    safe = np.where(spread > 0, spread, 1.0)
    h = np.where(
        v == r,
        60.0 * (g - b) / safe,
        np.where(v == g, 120.0 + 60.0 * (b - r) / safe, 240.0 + 60.0 * (r - g) / safe),
    )
    h = np.where(spread > 0, h, 0.0)
    h = np.where(h < 0, h + 360.0, h)
    return np.rint(h / 2.0), np.rint(s), v


def _opencv_ellipse(size: int) -> np.ndarray:
    """OpenCV's MORPH_ELLIPSE structuring element of ``size x size``."""
    r = size // 2
    kernel = np.zeros((size, size), dtype=bool)
    for row in range(size):
        dy = row - r
        dx = round(r * np.sqrt((r * r - dy * dy) / (r * r)))
        kernel[row, max(0, r - dx) : min(size, r + dx + 1)] = True
    return kernel


def render_depth(map: np.ndarray, white_is_near: bool = True) -> ImageData:
    """A grayscale picture of a depth map: valid depths min–max scaled to 0..255.

    Near is white when ``white_is_near`` (the reverse otherwise); pixels without
    depth (0, NaN) are drawn black.

    Raises:
        OperationError: the map is not H x W.
    """
    depth = np.asarray(map, dtype=np.float64)
    if depth.ndim != 2:
        raise OperationError(f"render_depth needs an H x W depth map, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth != 0)
    gray = np.zeros(depth.shape, dtype=np.float64)
    if valid.any():
        low, high = depth[valid].min(), depth[valid].max()
        scaled = (depth[valid] - low) / (high - low) if high > low else np.zeros(valid.sum())
        gray[valid] = 255.0 * (1.0 - scaled if white_is_near else scaled)
    pixels = np.repeat(np.rint(gray).astype(np.uint8)[..., None], 3, axis=2)
    return ImageData.of(pixels)


def render_normals(map: np.ndarray) -> ImageData:
    """A standard RGB normal map: each component in [−1, 1] mapped to 0..255.

    Pixels that are not finite are drawn as the zero vector (mid-grey).

    Raises:
        OperationError: the map is not H x W x 3.
    """
    normals = np.asarray(map, dtype=np.float64)
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise OperationError(f"render_normals needs an H x W x 3 map, got shape {normals.shape}")
    normals = np.where(np.isfinite(normals), np.clip(normals, -1.0, 1.0), 0.0)
    return ImageData.of(np.rint((normals + 1.0) * 127.5).astype(np.uint8))


def paint_instance(image: ImageData, instances: np.ndarray, point: object) -> ImageData:
    """The image with the instance under ``point`` filled solid red (unchanged on background).

    Raises:
        OperationError: the instance map's size differs from the image, or the
            point lies outside it.
    """
    ids = np.asarray(instances)
    width, height = image.size
    if ids.shape != (height, width):
        raise OperationError(
            f"paint_instance: the instance map is {ids.shape} but the image is {width}x{height}"
        )
    x, y = as_point(point)
    if not (0 <= x < width and 0 <= y < height):
        raise OperationError(f"paint_instance: ({x}, {y}) is outside the {width}x{height} image")
    if ids[y, x] == 0:
        return image
    canvas = np.array(image.pixels)
    canvas[ids == ids[y, x]] = (255, 0, 0)
    return ImageData.of(canvas)
