"""The camera, the scene and ray-cast rendering with direct light and shadows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chainlang.data.synthetic.classes import CLASSES, IGNORE
from chainlang.data.synthetic.geometry import Plane, Solid, Surface


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
        return Camera(_vec3(position), _vec3(r), _vec3(u), _vec3(f), hfov_deg=hfov_deg)

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


def _vec3(v: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    x, y, z = (float(c) for c in v)
    return x, y, z


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
    surfaces: tuple[Surface, ...] = (*scene.objects, *scene.planes)
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
    surfaces: tuple[Surface, ...] = (*scene.objects, *scene.planes)
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
