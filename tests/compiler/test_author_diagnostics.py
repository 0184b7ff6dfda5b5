"""Diagnostics a chain author meets (issue 12, point 7) beyond their golden files."""

from __future__ import annotations

from typing import Any

from chainlang.language.compiler import check_source
from chainlang.stdlib import default_registry, operation

FIELD_CHAIN = """chain t {
  input image: Image
  output DepthMap
  let pairs = sample_pairs(superpixels(image))
  let sizes = [p.a.region_size for p in pairs]
  return paint(superpixels(image), [])
}
"""


@operation("region_size(r: Region) -> Int")
def region_size(r: Any) -> int:
    """A stand-in operation (never run: the chain is only checked)."""
    raise AssertionError("not run")


def test_a_field_named_like_an_operation_says_to_call_it() -> None:
    registry = default_registry().with_operations([region_size])
    [d] = check_source(FIELD_CHAIN, registry=registry).diagnostics
    assert d.code == "E401"
    assert d.message == "Region has no field 'region_size' (its fields: id)"
    assert d.suggestion == "'region_size' is an operation, not a field: call it as region_size(...)"


def test_a_field_of_a_type_without_fields_says_so() -> None:
    text = FIELD_CHAIN.replace("p.a.region_size", "image.width")
    [d] = check_source(text).diagnostics
    assert d.message == "Image has no field 'width' (Image has no fields)"
