"""Pure image operations of the standard library.

Superpixels, adjacency graphs, pair sampling, markers, crops and grids,
region statistics, the order globalizer and request encoding. Every
operation a chain may call is re-exported from :mod:`chainlang.vision.ops`;
scikit-image is imported only when superpixels are first computed.
"""
