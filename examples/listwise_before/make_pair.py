"""The one operation the listwise depth chain needed before issue 12: building a Pair.

Kept only to measure ``chains/examples/listwise_depth.chain`` against the same idea
written with the language as it was (docs/tasks.md, "How much shorter").
"""

from chainlang.stdlib import operation
from chainlang.vision.values import Pair


@operation("make_pair(a: Region, b: Region) -> Pair")
def make_pair(a, b):
    """The pair (a, b): a +1 vote means a is nearer."""
    return Pair(a, b)
