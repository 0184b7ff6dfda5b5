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
    RANDOM_RANKING_IDS,
    AnswerError,
    extract_json,
    instructions_for,
    other_answer,
    random_answer,
    schema_for,
    validate,
)
from chainlang.language.types import (
    POINT,
    BoolT,
    EnumT,
    FieldT,
    FixedListT,
    FloatRangeT,
    FloatT,
    ImageT,
    IntRangeT,
    IntT,
    KeyedT,
    LabelT,
    ListT,
    OpaqueT,
    OptionalT,
    RankingT,
    RecordT,
    TextT,
    permutation_of,
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
            IntRangeT(lo=-2, hi=20),
            FloatRangeT(lo=0.0, hi=1.0),
            permutation_of(("1", "2", "3", "4", "5")),
            permutation_of(labelset=labels_file),
            POINT,
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
        fixed = st.builds(lambda t, n: FixedListT(item=t, length=n), children, st.integers(1, 4))
        lists = st.builds(lambda t: ListT(item=t), children)
        return st.one_of(lists, fixed, records, keyed)

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


# --------------------------------------------------------------------------- answer shapes

ORDER = permutation_of(("1", "2", "3", "4", "5"))


def test_shape_schemas_use_strict_mode_keywords() -> None:
    wrapped = [
        schema_for(t)["properties"]["answer"]
        for t in (
            IntRangeT(lo=0, hi=20),
            FloatRangeT(lo=0.0, hi=1.0),
            FixedListT(item=IntT(), length=5),
        )
    ]
    assert wrapped[0] == {"type": "integer", "minimum": 0, "maximum": 20}
    assert wrapped[1] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert wrapped[2] == {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 5,
        "maxItems": 5,
    }
    order = schema_for(ORDER)
    check_strict(order)
    inner = order["properties"]["answer"]
    assert inner["items"] == {"type": "string", "enum": ["1", "2", "3", "4", "5"]}
    assert (inner["minItems"], inner["maxItems"]) == (5, 5)
    assert "exactly once" in inner["description"]  # strict mode has no uniqueItems


def test_shape_instructions_state_the_bounds() -> None:
    text = instructions_for(
        RecordT(
            fields=(
                FieldT(name="order", type=ORDER),
                FieldT(name="n", type=IntRangeT(lo=0, hi=20)),
                FieldT(name="xs", type=FixedListT(item=FloatT(), length=3)),
            )
        )
    )
    assert '"1", "2", "3", "4", "5" exactly once' in text
    assert "an integer from 0 to 20" in text
    assert "exactly 3 elements" in text
    example = json.loads(text.splitlines()[-1])
    assert validate(
        RecordT(fields=(FieldT(name="order", type=ORDER),)), {"order": example["order"]}
    )


@pytest.mark.parametrize(
    ("t", "value", "words"),
    [
        (IntRangeT(lo=0, hi=20), 21, "expected an integer from 0 to 20, got 21"),
        (IntRangeT(lo=0, hi=20), -1, "from 0 to 20"),
        (IntRangeT(lo=0, hi=20), 2.5, "expected an integer"),
        (FloatRangeT(lo=0.0, hi=1.0), 1.5, "expected a number from 0.0 to 1.0, got 1.5"),
        (FixedListT(item=IntT(), length=3), [1, 2], "expected exactly 3 elements, got 2"),
        (ORDER, ["1", "1", "2", "3", "4"], '"1" more than once; "5" missing'),
        (ORDER, ["1", "2", "3"], '"4", "5" missing'),
        (ORDER, ["1", "2", "3", "4", "5", "5"], '"5" more than once'),
        (ORDER, ["1", "2", "3", "4", "six"], r"\$\[4\]: \"six\" is not one of the choices"),
        (POINT, [1, 2, 3], r"expected a point \[x, y\]"),
    ],
)
def test_shapes_refuse_with_clear_messages(t, value, words) -> None:
    with pytest.raises(AnswerError, match=words):
        validate(t, value)


def test_shapes_accept_their_values() -> None:
    assert validate(IntRangeT(lo=0, hi=20), {"answer": 20}) == 20
    assert validate(ORDER, ["5", "4", "3", "2", "1"]) == ["5", "4", "3", "2", "1"]
    assert validate(POINT, {"x": 3, "y": 4.5}) == (3.0, 4.5)
    assert validate(POINT, [3, 4.5]).x == 3.0


def _chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def test_random_integers_are_uniform_over_exactly_the_range() -> None:
    rng = np.random.default_rng(7)
    draws = [random_answer(IntRangeT(lo=0, hi=20), rng) for _ in range(4200)]
    counts = [draws.count(k) for k in range(21)]
    assert set(draws) == set(range(21))
    assert _chi_square(counts) < 45.3  # chi-square 0.999 quantile, 20 degrees of freedom


def test_random_permutations_are_uniform_over_all_orders() -> None:
    rng = np.random.default_rng(11)
    t = permutation_of(("a", "b", "c", "d"))
    draws = [tuple(random_answer(t, rng)) for _ in range(4800)]
    counts = [draws.count(p) for p in set(draws)]
    assert len(counts) == 24  # 4! orders, each reached
    assert _chi_square(counts) < 49.7  # chi-square 0.999 quantile, 23 degrees of freedom


def test_other_integers_are_uniform_over_the_other_values() -> None:
    rng = np.random.default_rng(3)
    t = IntRangeT(lo=0, hi=5)
    draws = [other_answer(t, 2, rng) for _ in range(3000)]
    counts = [draws.count(k) for k in (0, 1, 3, 4, 5)]
    assert set(draws) == {0, 1, 3, 4, 5}
    assert _chi_square(counts) < 18.5  # chi-square 0.999 quantile, 4 degrees of freedom


def test_flips_stay_in_the_space() -> None:
    rng = np.random.default_rng(5)
    for t, value in [
        (ORDER, ["1", "2", "3", "4", "5"]),
        (IntRangeT(lo=0, hi=1), 1),
        (FixedListT(item=IntRangeT(lo=0, hi=3), length=4), [0, 0, 0, 0]),
        (FloatRangeT(lo=0.0, hi=1.0), 0.5),
    ]:
        for _ in range(50):
            other = other_answer(t, value, rng)
            assert other != value and validate(t, other) == other
    with pytest.raises(UsageError, match="single value"):
        other_answer(IntRangeT(lo=3, hi=3), 3, rng)


# ------------------------------------------------- rankings, points and plain numbers

RANKING = RankingT()


def test_a_ranking_answer_takes_ids_as_text_or_whole_numbers() -> None:
    # an oracle clause over an integer truth ranking gives [3, 1, 2]; a model writes text
    assert validate(RANKING, [3, 1, 2]) == ["3", "1", "2"]
    assert validate(RANKING, {"answer": ["3", "cube", 2.0]}) == ["3", "cube", "2"]
    with pytest.raises(AnswerError, match=r"\$\[1\]: expected an id"):
        validate(RANKING, ["1", 1.5])
    with pytest.raises(AnswerError, match="expected a list of ids"):
        validate(RANKING, "3, 1, 2")


def test_random_rankings_are_uniform_orders_of_the_ids_one_to_ten() -> None:
    rng = np.random.default_rng(2)
    ids = [str(i) for i in range(1, RANDOM_RANKING_IDS + 1)]
    draws = [random_answer(RANKING, rng) for _ in range(3000)]
    assert all(sorted(d, key=int) == ids and validate(RANKING, d) == d for d in draws)
    # restricted to any ids (a scene's 1..4), the order is uniform: 4! = 24 orders
    sub = [tuple(x for x in d if x in {"1", "2", "3", "4"}) for d in draws]
    counts = [sub.count(p) for p in set(sub)]
    assert len(counts) == 24 and _chi_square(counts) < 49.7  # 0.999 quantile, 23 dof


def test_a_flipped_ranking_is_another_order_of_the_same_ids() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        other = other_answer(RANKING, [3, 1, 2], rng)
        assert other != ["3", "1", "2"] and sorted(other) == ["1", "2", "3"]


def test_random_and_flipped_points_lie_in_the_image_the_question_showed() -> None:
    rng = np.random.default_rng(9)
    size = (320, 240)
    draws = np.array([random_answer(POINT, rng, image_size=size) for _ in range(2000)])
    assert (draws >= 0).all() and (draws[:, 0] < 320).all() and (draws[:, 1] < 240).all()
    # uniform over the area: each quarter of the image gets about a quarter of the draws
    quarters = (draws[:, 0] >= 160).astype(int) * 2 + (draws[:, 1] >= 120)
    assert _chi_square(np.bincount(quarters, minlength=4).tolist()) < 16.3  # 0.999, 3 dof
    flips = np.array([other_answer(POINT, [300, 10], rng, image_size=size) for _ in range(500)])
    assert (flips >= 0).all() and (flips[:, 0] < 320).all() and (flips[:, 1] < 240).all()
    assert np.abs(flips - [300, 10]).max(axis=1).min() > 0  # each flip moved the point
    # far from their truth: a flipped point is as wrong as a random one (mean ~ half the image)
    assert np.linalg.norm(flips - [300, 10], axis=1).mean() > 100
    points = ListT(item=POINT)
    flipped = other_answer(points, [[1, 2], [3, 4]], rng, image_size=size)
    assert sum(tuple(p) != q for p, q in zip(flipped, [(1, 2), (3, 4)], strict=True)) == 1
    # without an image there is no pixel space: the unit square
    assert all(0 <= c < 1 for c in random_answer(POINT, rng))


def test_a_plain_int_draws_from_zero_to_nine_as_documented() -> None:
    rng = np.random.default_rng(1)
    draws = [random_answer(IntT(), rng) for _ in range(2000)]
    assert set(draws) == set(range(10))
    assert _chi_square([draws.count(k) for k in range(10)]) < 27.9  # 0.999 quantile, 9 dof


def test_a_permutation_of_numbered_choices_takes_the_numbers_of_an_integer_truth() -> None:
    # `oracle { order = truth.size_rank }` gives [3, 1, 2, 5, 4] for choices "1".."5"
    order = permutation_of(("1", "2", "3", "4", "5"))
    assert validate(order, [3, 1, 2, 5, 4]) == ["3", "1", "2", "5", "4"]
    assert validate(EnumT(values=("1", "2")), 2.0) == "2"
    with pytest.raises(AnswerError, match="expected a string"):
        validate(EnumT(values=("1", "2")), 7)
    with pytest.raises(AnswerError, match="expected a string"):
        validate(EnumT(values=("1", "2")), True)
