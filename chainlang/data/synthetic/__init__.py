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
* ``semantic/<id>.png``: uint8 index into ``chainlang/language/labelsets/synthetic.txt``;
  255 = ignore.
* ``instances/<id>.png``: 16-bit ids 1..N for objects, 0 for floor and walls.
* boxes, the image label (class of the largest visible object) and one interior query point per
  object are inline in the manifest; the camera intrinsics are in each item's ``meta``.

Every scene draws from its own generator ``numpy.random.default_rng([seed, index])``, so scene
``k`` is the same whatever ``n`` is, and no global random state is touched.

The package, one module per concern: ``classes`` (the semantic classes), ``textures``,
``geometry`` (planes, solids and their intersections), ``rendering`` (camera, scene, ray
casting and lighting), ``sampling`` (random scenes and their layout checks), ``annotate``
(boxes, label and points from a render) and ``writer`` (:func:`generate` and its stamp file).
"""

from chainlang.data.synthetic.annotate import annotations
from chainlang.data.synthetic.classes import CLASSES, FLOOR, IGNORE, OBJECT_CLASSES, WALL
from chainlang.data.synthetic.geometry import Plane, Solid, Surface
from chainlang.data.synthetic.rendering import Camera, Render, Scene, render
from chainlang.data.synthetic.sampling import sample_scene
from chainlang.data.synthetic.textures import Texture
from chainlang.data.synthetic.writer import GENERATOR_VERSION, STAMP_NAME, generate, render_scene

__all__ = [
    "CLASSES",
    "FLOOR",
    "GENERATOR_VERSION",
    "IGNORE",
    "OBJECT_CLASSES",
    "STAMP_NAME",
    "WALL",
    "Camera",
    "Plane",
    "Render",
    "Scene",
    "Solid",
    "Surface",
    "Texture",
    "annotations",
    "generate",
    "render",
    "render_scene",
    "sample_scene",
]
