"""Synthetic 3D scenes with exact ground truth, so every chain can run end to end offline.

Each scene is a few textured primitives (spheres, cubes, cylinders, cones) standing on a floor
in front of a back wall and sometimes a side wall, lit by ambient light plus one directional
light that casts shadows, seen through a pinhole camera. Rendering is ray casting in numpy:
one ray per pixel centre, analytic ray–primitive intersections, vectorised over all pixels.
There is no anti-aliasing, so every pixel belongs to exactly one surface and the masks, boxes
and image agree exactly.

World frame: +y up, the floor is ``y = 0``, the back wall faces +z. Outputs per scene:

* ``images/<id>.png``: RGB.
* ``depth/<id>.npy``: float32 Euclidean distance from the camera centre along each pixel's ray,
  in metres (Hypersim's ``depth_euclidean`` convention), 0 where no surface is hit.
* ``normals/<id>.npy``: float32 unit normals in the camera frame, +x right, +y up, +z towards
  the camera.
* ``semantic/<id>.png``: uint8 index into ``chainlang/labelsets/synthetic.txt``; 255 = ignore.
* ``instances/<id>.png``: 16-bit ids 1..N for objects, 0 for floor and walls.
* boxes, the image label (class of the largest visible object) and one interior query point per
  object are inline in the manifest; the camera intrinsics are in each item's ``meta``.

Every scene draws from its own generator ``numpy.random.default_rng([seed, index])``, so scene
``k`` is the same whatever ``n`` is, and no global random state is touched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from scipy import ndimage

from chainlang.data.manifest import INFO_NAME, MANIFEST_NAME, write_manifest
from chainlang.errors import DataError, UsageError

CLASSES = ("floor", "wall", "sphere", "cube", "cylinder", "cone")
OBJECT_CLASSES = CLASSES[2:]
FLOOR, WALL = 0, 1
IGNORE = 255
STAMP_NAME = "synthetic.json"
GENERATOR_VERSION = 1

_EPS = 1e-6
_MIN_VISIBLE_FRACTION = 0.7  # an object may be at most 30% occluded
_MIN_AREA_FRACTION = 0.008  # ...and must cover at least 0.8% of the image
_CHECK_SCALE = 4  # layout checks render at 1/4 resolution
_MAX_LAYOUT_TRIES = 200


# --------------------------------------------------------------------------- textures


@dataclass(frozen=True, slots=True)
class Texture:
    """A procedural two-colour pattern evaluated at 3D surface coordinates."""

    kind: str  # "checker" | "stripes" | "noise"
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    frequency: float
    axis: tuple[float, float, float]
    seed: int

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """RGB albedo in [0, 1] for points ``p`` (M×3) in the texture's frame."""
        if self.kind == "checker":
            cells = np.floor(p * self.frequency).astype(np.int64).sum(axis=1)
            mix = (cells % 2).astype(np.float64)
        elif self.kind == "stripes":
            phase = p @ np.asarray(self.axis) * self.frequency
            mix = (np.floor(phase) % 2).astype(np.float64)
        else:
            mix = 0.65 * _value_noise(p * self.frequency, self.seed)
            mix += 0.35 * _value_noise(p * self.frequency * 2.7, self.seed + 1)
        a, b = np.asarray(self.colour_a), np.asarray(self.colour_b)
        return a * (1.0 - mix[:, None]) + b * mix[:, None]


def _lattice_hash(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic integer hash of lattice points to [0, 1) (platform-independent)."""
    mask = np.int64(0xFFFFFFFF)
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791) ^ np.int64(seed * 2654435761 & mask)
    h &= mask
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & mask
    h = ((h ^ (h >> 12)) * 0x297A2D39) & mask
    h ^= h >> 15
    return (h & 0xFFFF).astype(np.float64) / 65536.0


def _value_noise(p: np.ndarray, seed: int) -> np.ndarray:
    """Smooth trilinear value noise in [0, 1)."""
    base = np.floor(p)
    f = p - base
    f = f * f * (3.0 - 2.0 * f)  # smoothstep removes the lattice's visible creases
    i = base.astype(np.int64)
    out = np.zeros(len(p))
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (f[:, 0] if dx else 1 - f[:, 0])
                    * (f[:, 1] if dy else 1 - f[:, 1])
                    * (f[:, 2] if dz else 1 - f[:, 2])
                )
                out += w * _lattice_hash(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out


# --------------------------------------------------------------------------- geometry


class Surface(Protocol):
    """Anything a ray can hit."""

    texture: Texture

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Nearest hit distance > eps per ray (inf for a miss). ``o`` is 3 or N×3, ``d`` N×3."""
        ...

    def normal(self, p: np.ndarray) -> np.ndarray:
        """Outward unit normals (world frame) at hit points ``p`` (M×3)."""
        ...

    def tex_coords(self, p: np.ndarray) -> np.ndarray:
        """Coordinates the texture is evaluated at (M×3)."""
        ...


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=-1)


def _nearest_root(a: np.ndarray, b: np.ndarray, c: np.ndarray, valid_at: Any) -> np.ndarray:
    """Smallest root t > eps of a t² + 2 b t + c = 0 for which ``valid_at(t)`` holds."""
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = b * b - a * c
        s = np.sqrt(np.where(disc >= 0, disc, np.nan))
        best = np.full(np.broadcast(a, b, c).shape, np.inf)
        for t in ((-b + s) / a, (-b - s) / a):
            ok = np.isfinite(t) & (t > _EPS) & valid_at(np.nan_to_num(t)) & (disc >= 0)
            best = np.where(ok & (t < best), t, best)
    return best


@dataclass(frozen=True, slots=True)
class Plane:
    """An infinite plane ``point · normal = offset`` (the floor and the walls)."""

    n: tuple[float, float, float]
    offset: float
    texture: Texture

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        n = np.asarray(self.n)
        denom = d @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.offset - _dot(o, n)) / denom
        return np.where((denom < -1e-9) & (t > _EPS), t, np.inf)

    def normal(self, p: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.n, dtype=np.float64), p.shape).copy()

    def tex_coords(self, p: np.ndarray) -> np.ndarray:
        return p


@dataclass(frozen=True, slots=True)
class Solid:
    """A primitive standing on the floor at ``(x, 0, z)``, turned by ``yaw`` about +y.

    ``size`` is (radius or half-width, height): sphere (r, 2r), cube (a, 2a), cylinder (r, h),
    cone (base radius r, h).
    """

    cls: str
    x: float
    z: float
    yaw: float
    size: tuple[float, float]
    texture: Texture

    @property
    def footprint(self) -> float:
        """Radius of a circle on the floor that contains the object."""
        r = self.size[0]
        return r * math.sqrt(2.0) if self.cls == "cube" else r

    def _to_local(self, v: np.ndarray) -> np.ndarray:
        """Rotate world vectors into the object's frame (by -yaw about +y).

        Written per column instead of ``v @ R``: matmul with a 3-wide inner dimension is slow
        on broadcast (stride-0) arrays such as the shadow rays' shared direction.
        """
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        x, y, z = v[..., 0], v[..., 1], v[..., 2]
        return np.stack(np.broadcast_arrays(c * x - s * z, y, s * x + c * z), axis=-1)

    def _to_world(self, v: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        x, y, z = v[..., 0], v[..., 1], v[..., 2]
        return np.stack([c * x + s * z, y, -s * x + c * z], axis=-1)

    def _local(self, p: np.ndarray) -> np.ndarray:
        return self._to_local(p - np.array([self.x, 0.0, self.z]))

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        dl = self._to_local(d[:1]) if _shared(d) else self._to_local(d)
        return _INTERSECT[self.cls](self, self._local(o), np.broadcast_to(dl, d.shape))

    def normal(self, p: np.ndarray) -> np.ndarray:
        nl = _NORMAL[self.cls](self, self._local(p))
        nl /= np.maximum(np.linalg.norm(nl, axis=1, keepdims=True), 1e-12)
        return self._to_world(nl)

    def tex_coords(self, p: np.ndarray) -> np.ndarray:
        return self._local(p)


def _shared(d: np.ndarray) -> bool:
    """True when every row of ``d`` is the same vector stored once (a broadcast view)."""
    return d.ndim == 2 and d.strides[0] == 0


def _sphere_t(s: Solid, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    r = s.size[0]
    oc = o - np.array([0.0, r, 0.0])
    a = np.ones(len(d))
    return _nearest_root(a, _dot(d, oc), _dot(oc, oc) - r * r, lambda t: True)


def _sphere_n(s: Solid, p: np.ndarray) -> np.ndarray:
    return p - np.array([0.0, s.size[0], 0.0])


def _cube_t(s: Solid, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    a = s.size[0]
    lo, hi = np.array([-a, 0.0, -a]), np.array([a, 2 * a, a])
    safe = np.where(np.abs(d) < 1e-12, 1e-12, d)
    t0, t1 = (lo - o) / safe, (hi - o) / safe
    near = np.minimum(t0, t1).max(axis=1)
    far = np.maximum(t0, t1).min(axis=1)
    t = np.where(near > _EPS, near, far)
    return np.where((far >= near) & (t > _EPS), t, np.inf)


def _cube_n(s: Solid, p: np.ndarray) -> np.ndarray:
    a = s.size[0]
    q = (p - np.array([0.0, a, 0.0])) / a
    axis = np.abs(q).argmax(axis=1)
    n = np.zeros_like(p)
    n[np.arange(len(p)), axis] = np.sign(q[np.arange(len(p)), axis])
    return n


def _cylinder_t(s: Solid, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    r, h = s.size
    ob = np.broadcast_to(o, d.shape)
    side = _nearest_root(
        d[:, 0] ** 2 + d[:, 2] ** 2,
        ob[:, 0] * d[:, 0] + ob[:, 2] * d[:, 2],
        ob[:, 0] ** 2 + ob[:, 2] ** 2 - r * r,
        lambda t: (ob[:, 1] + t * d[:, 1] >= 0) & (ob[:, 1] + t * d[:, 1] <= h),
    )
    return np.minimum(side, _disc_t(ob, d, h, r))


def _disc_t(o: np.ndarray, d: np.ndarray, y: float, r: float) -> np.ndarray:
    """Hits on the horizontal disc of radius ``r`` at height ``y`` (a cylinder's top)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (y - o[:, 1]) / d[:, 1]
        px, pz = o[:, 0] + t * d[:, 0], o[:, 2] + t * d[:, 2]
    ok = np.isfinite(t) & (t > _EPS) & (px * px + pz * pz <= r * r)
    return np.where(ok, t, np.inf)


def _cylinder_n(s: Solid, p: np.ndarray) -> np.ndarray:
    h = s.size[1]
    on_cap = p[:, 1] > h - 1e-6 * max(h, 1.0) - 1e-7
    side = np.stack([p[:, 0], np.zeros(len(p)), p[:, 2]], axis=1)
    return np.where(on_cap[:, None], np.array([0.0, 1.0, 0.0]), side)


def _cone_t(s: Solid, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    r, h = s.size
    k2 = (r / h) ** 2
    ob = np.broadcast_to(o, d.shape)
    q, dq = h - ob[:, 1], -d[:, 1]
    # The base lies on the floor and is never seen from above, so only the slanted side counts.
    return _nearest_root(
        d[:, 0] ** 2 + d[:, 2] ** 2 - k2 * dq * dq,
        ob[:, 0] * d[:, 0] + ob[:, 2] * d[:, 2] - k2 * q * dq,
        ob[:, 0] ** 2 + ob[:, 2] ** 2 - k2 * q * q,
        lambda t: (ob[:, 1] + t * d[:, 1] >= 0) & (ob[:, 1] + t * d[:, 1] <= h),
    )


def _cone_n(s: Solid, p: np.ndarray) -> np.ndarray:
    r, h = s.size
    k2 = (r / h) ** 2
    return np.stack([p[:, 0], k2 * (h - p[:, 1]), p[:, 2]], axis=1)


_INTERSECT = {"sphere": _sphere_t, "cube": _cube_t, "cylinder": _cylinder_t, "cone": _cone_t}
_NORMAL = {"sphere": _sphere_n, "cube": _cube_n, "cylinder": _cylinder_n, "cone": _cone_n}


# --------------------------------------------------------------------------- camera and scene


@dataclass(frozen=True, slots=True)
class Camera:
    """A pinhole camera: position, orthonormal right/up/forward axes, horizontal field of view."""

    position: tuple[float, float, float]
    right: tuple[float, float, float]
    up: tuple[float, float, float]
    forward: tuple[float, float, float]
    hfov_deg: float

    @staticmethod
    def looking_at(position: Sequence[float], target: Sequence[float], hfov_deg: float) -> Camera:
        """A level camera (no roll) at ``position`` looking at ``target``."""
        f = np.asarray(target, float) - np.asarray(position, float)
        f /= np.linalg.norm(f)
        r = np.cross(f, [0.0, 1.0, 0.0])
        r /= np.linalg.norm(r)
        u = np.cross(r, f)
        vec = (tuple(map(float, v)) for v in (position, r, u, f))
        return Camera(*vec, hfov_deg=hfov_deg)

    def intrinsics(self, width: int, height: int) -> dict[str, float]:
        """fx, fy, cx, cy in pixels (square pixels; pixel centres at integer + 0.5)."""
        fx = (width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)
        return {"fx": fx, "fy": fx, "cx": width / 2.0, "cy": height / 2.0}

    def rays(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Unit ray directions per pixel, in the world frame and the camera frame (both N×3)."""
        k = self.intrinsics(width, height)
        u = (np.arange(width) + 0.5 - k["cx"]) / k["fx"]
        v = -(np.arange(height) + 0.5 - k["cy"]) / k["fy"]
        uu, vv = np.meshgrid(u, v)
        cam = np.stack([uu.ravel(), vv.ravel(), -np.ones(uu.size)], axis=1)
        cam /= np.linalg.norm(cam, axis=1, keepdims=True)
        basis = np.stack([self.right, self.up, [-c for c in self.forward]])  # rows: cam axes
        return cam @ basis, cam


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything needed to render one image."""

    camera: Camera
    planes: tuple[Plane, ...]
    plane_classes: tuple[int, ...]
    objects: tuple[Solid, ...]
    light: tuple[float, float, float]  # unit vector towards the light
    ambient: float


@dataclass(frozen=True, slots=True)
class Render:
    """The rendered image and its exact ground truth."""

    rgb: np.ndarray  # H×W×3 uint8
    depth: np.ndarray  # H×W float32, Euclidean metres, 0 = no surface
    normals: np.ndarray  # H×W×3 float32, camera frame
    semantic: np.ndarray  # H×W uint8
    instances: np.ndarray  # H×W int32, 1..N objects in scene order


def _trace(scene: Scene, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-ray nearest distance, index of the surface hit (-1 = none), and objects-only hits."""
    surfaces = (*scene.objects, *scene.planes)
    t_all = np.stack([s.intersect(o, d) for s in surfaces])
    which = t_all.argmin(axis=0)
    t = t_all[which, np.arange(len(d))]
    which = np.where(np.isfinite(t), which, -1)
    return t, which, t_all[: len(scene.objects)]


def render(scene: Scene, width: int, height: int) -> Render:
    """Ray-cast ``scene`` at ``width``×``height`` (one ray through each pixel centre)."""
    d, _ = scene.camera.rays(width, height)
    o = np.asarray(scene.camera.position)
    t, which, _ = _trace(scene, o, d)
    n_pix = len(d)
    rgb = np.ones((n_pix, 3))  # nothing-hit pixels stay white (never happens: the wall is infinite)
    normals = np.zeros((n_pix, 3))
    surfaces = (*scene.objects, *scene.planes)
    for k, surf in enumerate(surfaces):
        sel = np.flatnonzero(which == k)
        if sel.size == 0:
            continue
        p = o + t[sel, None] * d[sel]
        n = surf.normal(p)
        lit = _direct_light(scene, p, n)
        rgb[sel] = (
            surf.texture.albedo(surf.tex_coords(p))
            * (scene.ambient + (1 - scene.ambient) * lit)[:, None]
        )
        normals[sel] = n
    cam = scene.camera
    basis = np.stack([cam.right, cam.up, [-c for c in cam.forward]])
    normals_cam = normals @ basis.T
    return _assemble(scene, width, height, t, which, rgb, normals_cam)


def _direct_light(scene: Scene, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Lambertian term times visibility of the light (shadow rays against the objects)."""
    light = np.asarray(scene.light)
    cos = np.clip(n @ light, 0.0, None)
    facing = np.flatnonzero(cos > 0)
    if facing.size and scene.objects:
        origins = p[facing] + 1e-4 * n[facing]
        dirs = np.broadcast_to(light, (facing.size, 3))
        blocked = np.zeros(facing.size, dtype=bool)
        for obj in scene.objects:
            blocked |= np.isfinite(obj.intersect(origins, dirs))
        cos[facing[blocked]] = 0.0
    return cos


def _assemble(
    scene: Scene,
    width: int,
    height: int,
    t: np.ndarray,
    which: np.ndarray,
    rgb: np.ndarray,
    normals_cam: np.ndarray,
) -> Render:
    n_obj = len(scene.objects)
    obj_cls = [CLASSES.index(o.cls) for o in scene.objects]
    classes = np.array([*obj_cls, *scene.plane_classes, IGNORE], dtype=np.uint8)
    semantic = classes[which]  # which == -1 picks the trailing IGNORE
    instances = np.where((which >= 0) & (which < n_obj), which + 1, 0).astype(np.int32)
    depth = np.where(which >= 0, t, 0.0).astype(np.float32)
    return Render(
        rgb=np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8).reshape(height, width, 3),
        depth=depth.reshape(height, width),
        normals=normals_cam.astype(np.float32).reshape(height, width, 3),
        semantic=semantic.reshape(height, width),
        instances=instances.reshape(height, width),
    )


# --------------------------------------------------------------------------- sampling


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
        axis=tuple(float(x) for x in axis / np.linalg.norm(axis)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


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
        visible_score = visible / max(1, np.count_nonzero(alone)) / _MIN_VISIBLE_FRACTION
        scores[k] = min(area_score, visible_score)
    return scores


# --------------------------------------------------------------------------- annotations


def annotations(scene: Scene, r: Render) -> dict[str, Any]:
    """Boxes, the image label and grouping points derived from the rendered instance map."""
    boxes, points, areas = [], [], []
    for k, obj in enumerate(scene.objects, 1):
        mask = r.instances == k
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes.append(
            {
                "label": obj.cls,
                "x0": int(cols[0]),
                "y0": int(rows[0]),
                "x1": int(cols[-1]) + 1,
                "y1": int(rows[-1]) + 1,
            }
        )
        # The most interior pixel (farthest from any other surface) is the safest query point.
        dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(dist.argmax()), dist.shape)
        points.append([int(x), int(y), k])
        areas.append(int(mask.sum()))
    label = scene.objects[int(np.argmax(areas))].cls
    return {"boxes": boxes, "points": points, "label": label, "areas": areas}


# --------------------------------------------------------------------------- generate


def generate(n: int, out: Path, seed: int = 0, size: tuple[int, int] = (640, 480)) -> Path:
    """Render ``n`` synthetic scenes into ``out`` and write its manifest.

    Output already in ``out`` from the same ``n``, ``seed``, ``size`` and generator version
    (recorded in ``synthetic.json``) is reused.

    Args:
        n: Number of scenes (>= 1).
        out: The dataset folder.
        seed: Seed; scene ``k`` depends only on ``seed``, ``k`` and ``size``.
        size: (width, height) in pixels, each at least 64.

    Returns:
        The path of ``manifest.jsonl``.

    Raises:
        UsageError: Bad ``n`` or ``size``.
    """
    if n < 1:
        raise UsageError(f"n must be at least 1, got {n}")
    width, height = size
    if width < 64 or height < 64:
        raise UsageError(f"size must be at least 64×64, got {width}×{height}")
    out = Path(out)
    stamp = {
        "generator": "chainlang.synthetic",
        "version": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "size": [width, height],
    }
    if _reusable(out, stamp):
        return out / MANIFEST_NAME
    for sub in ("images", "depth", "normals", "semantic", "instances"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / STAMP_NAME).unlink(missing_ok=True)
    records = [_write_scene(out, seed, k, width, height) for k in range(n)]
    manifest = write_manifest(out, records, _dataset_info(seed))
    (out / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return manifest


def _reusable(out: Path, stamp: dict[str, Any]) -> bool:
    try:
        previous = json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return previous == stamp and (out / MANIFEST_NAME).is_file() and (out / INFO_NAME).is_file()


def render_scene(seed: int, index: int, width: int, height: int) -> tuple[Scene, Render]:
    """Sample and render scene ``index`` of ``seed`` (the unit :func:`generate` repeats)."""
    rng = np.random.default_rng([seed, index])
    scene = sample_scene(rng, width, height)
    return scene, render(scene, width, height)


def _write_scene(out: Path, seed: int, k: int, width: int, height: int) -> dict[str, Any]:
    scene, r = render_scene(seed, k, width, height)
    sid = f"scene_{k:05d}"
    Image.fromarray(r.rgb).save(out / "images" / f"{sid}.png")
    np.save(out / "depth" / f"{sid}.npy", r.depth)
    np.save(out / "normals" / f"{sid}.npy", r.normals)
    Image.fromarray(r.semantic).save(out / "semantic" / f"{sid}.png")
    Image.fromarray(r.instances.astype(np.uint16)).save(out / "instances" / f"{sid}.png")
    ann = annotations(scene, r)
    return {
        "id": sid,
        "image": f"images/{sid}.png",
        "truth": {
            "label": ann["label"],
            "boxes": ann["boxes"],
            "semantic": f"semantic/{sid}.png",
            "instances": f"instances/{sid}.png",
            "depth": f"depth/{sid}.npy",
            "normals": f"normals/{sid}.npy",
        },
        "inputs": {"points": ann["points"]},
        "meta": {
            "camera": scene.camera.intrinsics(width, height),
            "objects": [o.cls for o in scene.objects],
            "areas": ann["areas"],
            "seed": seed,
            "index": k,
        },
    }


def _dataset_info(seed: int) -> dict[str, Any]:
    return {
        "name": "synthetic",
        "labelset": "synthetic",
        "truth": {
            "depth": {"kind": "euclidean", "units": "metres"},
            "normals": {"convention": "right-up-toward"},
            "semantic": {"num_classes": len(CLASSES), "ignore": IGNORE},
        },
        "source": {"generator": "chainlang.synthetic", "version": GENERATOR_VERSION, "seed": seed},
    }
