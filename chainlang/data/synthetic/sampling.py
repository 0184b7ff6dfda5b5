"""Random scenes: colours, textures, the room, solids, and layouts checked for visibility."""

from __future__ import annotations

import math

import numpy as np

from chainlang.data.synthetic.classes import FLOOR, OBJECT_CLASSES, WALL
from chainlang.data.synthetic.geometry import Plane, Solid
from chainlang.data.synthetic.rendering import Camera, Scene, _trace
from chainlang.data.synthetic.textures import Texture
from chainlang.errors import DataError

_MIN_VISIBLE_FRACTION = 0.7  # an object may be at most 30% occluded
_MIN_AREA_FRACTION = 0.008  # ...and must cover at least 0.8% of the image
_CHECK_SCALE = 4  # layout checks render at 1/4 resolution
_MAX_LAYOUT_TRIES = 200


def _colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> tuple:
    h, s, v = rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p_, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p_), (q, v, p_), (p_, v, t), (p_, q, v), (t, p_, v), (v, p_, q)][i]
    return tuple(float(c) for c in rgb)


def _texture(rng: np.random.Generator, bright: bool, frequency: tuple[float, float]) -> Texture:
    sat, val = ((0.1, 0.35), (0.6, 0.9)) if bright else ((0.5, 0.9), (0.55, 0.95))
    a = _colour(rng, sat, val)
    shade = rng.uniform(0.45, 0.75)
    # Second colour: a darker tone of the first, or a new hue; both keep the pattern visible.
    b = tuple(c * shade for c in a) if rng.uniform() < 0.5 else _colour(rng, sat, val)
    axis = rng.normal(size=3)
    return Texture(
        kind=str(rng.choice(["checker", "stripes", "noise"])),
        colour_a=a,
        colour_b=b,
        frequency=float(rng.uniform(*frequency)),
        axis=_unit3(axis),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def _unit3(v: np.ndarray) -> tuple[float, float, float]:
    x, y, z = (float(c) for c in v / np.linalg.norm(v))
    return x, y, z


def _room(rng: np.random.Generator) -> tuple[tuple[Plane, ...], tuple[int, ...], float, float]:
    """Floor, back wall and maybe a side wall; returns planes, classes, back-wall z, side x."""
    back = -float(rng.uniform(3.0, 4.5))
    planes = [
        Plane((0.0, 1.0, 0.0), 0.0, _texture(rng, True, (1.0, 2.5))),
        Plane((0.0, 0.0, 1.0), back, _texture(rng, True, (1.0, 3.0))),
    ]
    side = 0.0
    if rng.uniform() < 0.5:
        side = float(rng.choice([-1.0, 1.0]) * rng.uniform(2.8, 3.8))
        planes.append(
            Plane(
                (-math.copysign(1.0, side), 0.0, 0.0), -abs(side), _texture(rng, True, (1.0, 3.0))
            )
        )
    return tuple(planes), (FLOOR, *([WALL] * (len(planes) - 1))), back, side


def _solid(rng: np.random.Generator, cls: str, x: float, z: float) -> Solid:
    if cls == "sphere":
        r = rng.uniform(0.35, 0.65)
        size = (r, 2 * r)
    elif cls == "cube":
        a = rng.uniform(0.3, 0.5)
        size = (a, 2 * a)
    elif cls == "cylinder":
        size = (rng.uniform(0.25, 0.45), rng.uniform(0.6, 1.3))
    else:
        size = (rng.uniform(0.35, 0.55), rng.uniform(0.8, 1.4))
    return Solid(
        cls=cls,
        x=x,
        z=z,
        yaw=float(rng.uniform(0, math.pi)),
        size=(float(size[0]), float(size[1])),
        texture=_texture(rng, False, (2.5, 6.0)),
    )


def _layout(
    rng: np.random.Generator, back: float, side: float, camera: Camera, aspect: float
) -> tuple[Solid, ...]:
    """3–6 objects with non-overlapping footprints, clear of the walls, inside the view."""
    n = int(rng.integers(3, 7))
    placed: list[Solid] = []
    x_lim = (abs(side) - 0.7) if side else 2.4
    for _ in range(60):
        if len(placed) == n:
            break
        cls = str(rng.choice(OBJECT_CLASSES))
        obj = _solid(
            rng,
            cls,
            float(rng.uniform(-min(x_lim, 2.4), min(x_lim, 2.4))),
            float(rng.uniform(back + 0.8, 1.0)),
        )
        if (
            side
            and abs(obj.x) + obj.footprint > abs(side) - 0.1
            and np.sign(obj.x) == np.sign(side)
        ):
            continue
        if not _in_view(obj, camera, aspect):
            continue
        gap = [math.hypot(obj.x - q.x, obj.z - q.z) - obj.footprint - q.footprint for q in placed]
        if all(g > 0.15 for g in gap):
            placed.append(obj)
    return tuple(placed)


def _in_view(obj: Solid, camera: Camera, aspect: float) -> bool:
    """Whether the object's bounding cylinder projects inside the image (with a small margin)."""
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.stack([np.cos(angles), np.zeros(12), np.sin(angles)], axis=1) * obj.footprint
    top = ring + np.array([0.0, obj.size[1], 0.0])
    corners = np.concatenate([ring, top]) + np.array([obj.x, 0.0, obj.z])
    rel = corners - np.asarray(camera.position)
    depth = rel @ np.asarray(camera.forward)
    if np.any(depth <= 0.1):
        return False
    tan_x = math.tan(math.radians(camera.hfov_deg) / 2.0)
    u = (rel @ np.asarray(camera.right)) / depth / tan_x
    v = (rel @ np.asarray(camera.up)) / depth / (tan_x / aspect)
    return bool(np.all(np.abs(u) < 0.95) and np.all(np.abs(v) < 0.95))


def sample_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """Draw a scene whose objects are all in frame, large enough and mostly unoccluded.

    Raises:
        DataError: No acceptable layout was found (does not happen at sensible sizes).
    """
    planes, plane_classes, back, side = _room(rng)
    cam_pos = (
        float(rng.uniform(-0.5, 0.5)),
        float(rng.uniform(1.6, 2.4)),
        float(rng.uniform(3.4, 4.4)),
    )
    target = (float(rng.uniform(-0.3, 0.3)), float(rng.uniform(0.2, 0.5)), float(back * 0.3))
    camera = Camera.looking_at(cam_pos, target, float(rng.uniform(55.0, 65.0)))
    azimuth = rng.uniform(0.2, 1.0) * (
        -math.copysign(1.0, side) if side else rng.choice([-1.0, 1.0])
    )
    elevation = rng.uniform(0.6, 1.1)
    # The light comes from the room's open side, so walls never shadow anything and only
    # objects need shadow rays.
    light = (
        math.sin(azimuth) * math.cos(elevation),
        math.sin(elevation),
        math.cos(azimuth) * math.cos(elevation),
    )
    ambient = float(rng.uniform(0.3, 0.42))
    for _ in range(_MAX_LAYOUT_TRIES):
        scene = Scene(
            camera,
            planes,
            plane_classes,
            _layout(rng, back, side, camera, width / height),
            light,
            ambient,
        )
        accepted = _prune(scene, width // _CHECK_SCALE, height // _CHECK_SCALE)
        if accepted is not None:
            return accepted
    raise DataError("could not place objects in a synthetic scene; try a larger image size")


def _prune(scene: Scene, width: int, height: int) -> Scene | None:
    """Drop the worst object until the rest pass :func:`_object_scores`; None if under 3 remain.

    Dropping one occluder at a time (instead of redrawing the whole layout) keeps scenes with
    many objects, which a whole-layout rejection would almost never accept.
    """
    while len(scene.objects) >= 3:
        scores = _object_scores(scene, width, height)
        worst = int(np.argmin(scores))
        if scores[worst] >= 1.0:
            return scene
        objects = scene.objects[:worst] + scene.objects[worst + 1 :]
        scene = Scene(
            scene.camera, scene.planes, scene.plane_classes, objects, scene.light, scene.ambient
        )
    return None


def _object_scores(scene: Scene, width: int, height: int) -> np.ndarray:
    """Per object, a score >= 1 when it is inside the frame, large enough and mostly visible.

    The score is the smaller of (visible area / required area) and (visible fraction / required
    fraction); objects cut by the image border score 0.
    """
    d, _ = scene.camera.rays(width, height)
    _, which, t_objects = _trace(scene, np.asarray(scene.camera.position), d)
    scores = np.zeros(len(scene.objects))
    for k in range(len(scene.objects)):
        alone = np.isfinite(t_objects[k]).reshape(height, width)
        if alone[0].any() or alone[-1].any() or alone[:, 0].any() or alone[:, -1].any():
            continue
        visible = np.count_nonzero(which == k)
        area_score = visible / (_MIN_AREA_FRACTION * width * height)
        visible_score = visible / max(1, int(np.count_nonzero(alone))) / _MIN_VISIBLE_FRACTION
        scores[k] = min(area_score, visible_score)
    return scores
