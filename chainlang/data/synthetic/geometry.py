"""Surfaces a ray can hit: planes and solids, with per-shape intersections and normals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from chainlang.data.synthetic.textures import Texture

_EPS = 1e-6


class Surface(Protocol):
    """Anything a ray can hit."""

    @property
    def texture(self) -> Texture:
        """What the surface is painted with (read-only: surfaces are frozen)."""
        ...

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

    @property
    def volume(self) -> float:
        """The solid's volume in cubic metres: its real-world size, whatever the camera sees."""
        r, h = self.size
        base = math.pi * r * r
        volumes = {
            "sphere": 4.0 / 3.0 * math.pi * r**3,
            "cube": (2.0 * r) ** 3,
            "cylinder": base * h,
            "cone": base * h / 3.0,
        }
        return volumes[self.cls]

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
