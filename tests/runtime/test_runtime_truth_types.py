"""check_truth_types: which chain truth declarations fit which dataset truth types."""

from __future__ import annotations

import pytest

from chainlang.data import DatasetInfo
from chainlang.errors import UsageError
from chainlang.language.compiler import compile_source
from chainlang.language.types import Type
from chainlang.runtime.truth import check_truth_types, truth_type_fits

FITS = [
    ("Int", "Int"),
    ("Int(0..20)", "Int"),
    ("Float", "Int"),
    ("Float", "Float"),
    ("Bool", "Bool"),
    ("Text", "Text"),
    ("Label", "Text"),
    ("Text", "Label"),
    ("Point", "Point"),
    ("Points", "Points"),
    ("Ranking", "Ranking"),
    ("[Int]", "Ranking"),
    ("[Text]", "Ranking"),
    ("Text", "JSON"),
    ("Points", "JSON"),
    ("DepthMap", "DepthMap"),
    ("Boxes", "Boxes"),
    ("Label", "Label"),
]
MISFITS = [
    ("Text", "Int"),
    ("Int", "Float"),
    ("Bool", "Int"),
    ("Int", "Bool"),
    ("Points", "Point"),
    ("Point", "Points"),
    ("Ranking", "Points"),
    ("Points", "Ranking"),
    ("[Float]", "Ranking"),
    ("Int", "Ranking"),
    ("NormalMap", "DepthMap"),
]


def _type(text: str) -> Type:
    """A chain type, read as a chain declares it (``truth x: TEXT``)."""
    program = compile_source(
        f'chain c "t" {{\n  input image: Image\n  truth x: {text}\n  output DepthMap\n'
        "  return paint(superpixels(image), [])\n}\n"
    )
    return program.truth[0].type


@pytest.mark.parametrize(("declared", "dataset"), FITS)
def test_fitting_declarations(declared: str, dataset: str) -> None:
    assert truth_type_fits(_type(declared), dataset)


@pytest.mark.parametrize(("declared", "dataset"), MISFITS)
def test_misfitting_declarations(declared: str, dataset: str) -> None:
    assert not truth_type_fits(_type(declared), dataset)


class _Data:
    def __init__(self, fields: dict[str, str]) -> None:
        self.info = DatasetInfo("d", None, {}, {}, fields)


def test_the_refusal_names_the_field_both_types_and_the_fix() -> None:
    program = compile_source(
        'chain c "t" {\n  input image: Image\n  truth count: Text\n  truth other: Int\n'
        "  output DepthMap\n  return paint(superpixels(image), [])\n}\n"
    )
    check_truth_types(program, _Data({}))  # fields the dataset lacks are left to the items
    check_truth_types(program, _Data({"count": "JSON"}))
    with pytest.raises(UsageError) as err:
        check_truth_types(program, _Data({"count": "Int"}))
    assert str(err.value).startswith(
        "chain 'c' declares `truth count: Text`, but the dataset's 'count' is of type Int; "
        "declare `truth count: Int`"
    )
