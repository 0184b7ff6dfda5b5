"""answers.py: schemas, instructions, tolerant extraction, validation, simulated values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from providers_helpers import check_strict, conforms

from chainlang.errors import ChainlangError, UsageError
from chainlang.language.answers import (
    AnswerError,
    extract_json,
    instructions_for,
    other_answer,
    random_answer,
    schema_for,
    validate,
)
from chainlang.language.types import (
    BoolT,
    EnumT,
    FieldT,
    FloatT,
    ImageT,
    IntT,
    KeyedT,
    LabelT,
    ListT,
    OpaqueT,
    OptionalT,
    RecordT,
    TextT,
)

# --------------------------------------------------------------------------- schema_for


def test_scalar_answers_are_wrapped_in_an_object() -> None:
    assert schema_for(BoolT()) == {
        "type": "object",
        "properties": {"answer": {"type": "boolean"}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def test_record_schema_is_strict_with_reasoning_first_and_docs() -> None:
    t = RecordT(
        fields=(
            FieldT(name="nearer", type=EnumT(values=("red", "blue")), doc="nearer marker"),
            FieldT(name="reasoning", type=TextT()),
        )
    )
    schema = schema_for(t)
    check_strict(schema)
    assert list(schema["properties"]) == ["reasoning", "nearer"]
    assert schema["properties"]["nearer"] == {
        "type": "string",
        "enum": ["red", "blue"],
        "description": "nearer marker",
    }


def test_small_label_set_is_an_enum_large_one_a_described_string(labels_file, big_labels) -> None:
    small = schema_for(LabelT(labelset=labels_file))["properties"]["answer"]
    assert small["enum"][:2] == ["person", "zebra"]
    big = schema_for(LabelT(labelset=big_labels))["properties"]["answer"]
    assert big["type"] == "string" and "enum" not in big and big_labels in big["description"]


def test_keyed_schema_has_one_property_per_key() -> None:
    schema = schema_for(KeyedT(item=BoolT(), keys=("1", "2", "3")))
    check_strict(schema)
    assert list(schema["properties"]) == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("t", "words"),
    [
        (OptionalT(item=IntT()), "optional"),
        (OpaqueT(name="Regions"), "no JSON form"),
        (KeyedT(item=IntT()), "keys"),
        (RecordT(fields=(FieldT(name="x", type=OptionalT(item=IntT())),)), "optional"),
    ],
)
def test_types_that_cannot_be_answers_raise(t, words) -> None:
    with pytest.raises(UsageError, match=words):
        schema_for(t)


def test_image_answers_have_no_schema() -> None:
    assert schema_for(ImageT()) is None


def test_unknown_label_set_is_a_clear_error() -> None:
    with pytest.raises(ChainlangError, match="no-such-set"):
        schema_for(LabelT(labelset="no-such-set"))


def test_builtin_label_sets_coco_enum_imagenet_string() -> None:
    assert len(schema_for(LabelT(labelset="coco80"))["properties"]["answer"]["enum"]) == 80
    assert "enum" not in schema_for(LabelT(labelset="imagenet1k"))["properties"]["answer"]
    t = KeyedT(
        item=RecordT(fields=(FieldT(name="label", type=LabelT(labelset="coco80")),)), keys=("3",)
    )
    with pytest.raises(
        AnswerError, match=r'^\$\.3\.label: "zebraa" is not a label of coco80; closest: zebra$'
    ):
        validate(t, {"3": {"label": "zebraa"}})


# --------------------------------------------------------------------------- instructions


def test_instructions_describe_fields_and_carry_a_valid_example(labels_file) -> None:
    t = RecordT(
        fields=(
            FieldT(name="label", type=LabelT(labelset=labels_file)),
            FieldT(name="count", type=IntT()),
        )
    )
    text = instructions_for(t)
    assert '"label": one of "person"' in text and '"count": an integer' in text
    example = extract_json(text.rsplit("Example", 1)[1])
    assert validate(t, example) == example


# --------------------------------------------------------------------------- extract_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure!\n```json\n{"a": [1, 2]}\n```\nDone.', {"a": [1, 2]}),
        ('The answer is {"a": "x}y"} as requested.', {"a": "x}y"}),
        ('{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}),
        ('noise {not json} then {"ok": true}', {"ok": True}),
        ("[1, 2, 3]", [1, 2, 3]),
    ],
)
def test_extract_json_tolerates_fences_prose_and_trailing_commas(text, expected) -> None:
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{'a': 1}", "single quotes"),
        ("", "empty"),
        ("I cannot tell.", "no JSON"),
        ('{"a": 1', "no JSON"),
    ],
)
def test_extract_json_reports_why_it_failed(text, words) -> None:
    with pytest.raises(AnswerError, match=words):
        extract_json(text)


# --------------------------------------------------------------------------- validate


def test_label_path_and_closest_match_are_named(labels_file) -> None:
    t = KeyedT(
        item=RecordT(fields=(FieldT(name="label", type=LabelT(labelset=labels_file)),)),
        keys=("1", "2", "3"),
    )
    value = {"1": {"label": "cat"}, "2": {"label": "cat"}, "3": {"label": "zebraa"}}
    with pytest.raises(AnswerError) as err:
        validate(t, value)
    assert str(err.value).startswith(f'$.3.label: "zebraa" is not a label of {labels_file}')
    assert "closest: zebra" in str(err.value)


def test_labels_and_enums_normalise_case_whitespace_and_underscores(labels_file) -> None:
    assert validate(LabelT(labelset=labels_file), "  Traffic_Light ") == "traffic light"
    assert validate(LabelT(labelset=labels_file), {"answer": "hot dog"}) == "hot_dog"
    assert validate(EnumT(values=("red", "blue")), "RED") == "red"


@pytest.mark.parametrize(
    ("t", "value", "words"),
    [
        (IntT(), "3", "expected an integer"),
        (IntT(), 2.5, "expected an integer"),
        (IntT(), True, "expected an integer"),
        (FloatT(), "0.5", "expected a number"),
        (BoolT(), "yes", "expected true or false"),
        (TextT(), 3, "expected a string"),
        (ListT(item=IntT()), {"a": 1}, "expected a list"),
        (EnumT(values=("red", "blue")), "green", "allowed: red, blue"),
    ],
)
def test_wrong_types_are_rejected_never_coerced(t, value, words) -> None:
    with pytest.raises(AnswerError, match=words):
        validate(t, value)


def test_records_need_exactly_their_keys_and_come_back_in_declared_order() -> None:
    t = RecordT(fields=(FieldT(name="a", type=IntT()), FieldT(name="b", type=BoolT())))
    assert list(validate(t, {"b": True, "a": 2.0})) == ["a", "b"]
    with pytest.raises(AnswerError, match=r"^\$: missing key b"):
        validate(t, {"a": 1})
    with pytest.raises(AnswerError, match="unexpected key c"):
        validate(t, {"a": 1, "b": False, "c": 0})
    with pytest.raises(AnswerError, match=r"\$\[1\]"):
        validate(ListT(item=t), [{"a": 1, "b": True}, {"a": "x", "b": True}])


# --------------------------------------------------------------------------- random / other


def _types(labels_file: str) -> st.SearchStrategy:
    leaves = st.sampled_from(
        [
            BoolT(),
            IntT(),
            FloatT(),
            TextT(),
            EnumT(values=("a", "b", "c")),
            LabelT(labelset=labels_file),
        ]
    )

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        names = st.lists(
            st.sampled_from(["x", "y", "reasoning", "z"]), min_size=1, max_size=3, unique=True
        )
        records = st.builds(
            lambda ns, ts: RecordT(
                fields=tuple(FieldT(name=n, type=t) for n, t in zip(ns, ts, strict=False))
            ),
            names,
            st.lists(children, min_size=3, max_size=3),
        )
        keyed = st.builds(
            lambda t, n: KeyedT(item=t, keys=tuple(str(i) for i in range(1, n + 1))),
            children,
            st.integers(1, 3),
        )
        return st.one_of(st.builds(lambda t: ListT(item=t), children), records, keyed)

    return st.recursive(leaves, extend, max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_random_answers_validate_and_fit_the_schema(labels_file, data, seed) -> None:
    t = data.draw(_types(labels_file))
    rng = np.random.default_rng(seed)
    value = random_answer(t, rng)
    assert validate(t, value) == value
    schema = schema_for(t)
    check_strict(schema)
    wrapped = value if isinstance(t, RecordT | KeyedT) else {"answer": value}
    assert conforms(schema, json.loads(json.dumps(wrapped)))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_other_answer_is_valid_and_different(labels_file, data, seed) -> None:
    t = data.draw(_types(labels_file))
    rng = np.random.default_rng(seed)
    value = random_answer(t, rng)
    other = other_answer(t, value, rng)
    assert other != value
    assert validate(t, other) == other


def test_other_answer_of_a_single_valued_enum_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="single value"):
        other_answer(EnumT(values=("only",)), "only", np.random.default_rng(0))
