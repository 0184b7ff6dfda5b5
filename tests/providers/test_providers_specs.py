"""One description per provider: every provider has a complete spec, nothing outside
``chainlang/providers/`` names a provider, and request keys stay what journals hold."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest

import chainlang
from chainlang.image import ImageData
from chainlang.language.types import EnumT
from chainlang.providers import keys
from chainlang.providers.base import ImagePart, Message, ModelRequest, Params, TextPart
from chainlang.providers.capabilities import image_tokens
from chainlang.providers.registry import parse_model
from chainlang.providers.specs import SPECS, ProviderSpec, spec_for
from chainlang.runtime import cache

PACKAGE = Path(chainlang.__file__).parent
# Where provider names are legitimately written: the providers themselves, and the fake
# server, whose "openai"/"anthropic"/"gemini" are wire dialects it speaks, not choices.
ALLOWED = (PACKAGE / "providers", PACKAGE / "testing" / "fake_provider")
NAMES = frozenset(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_provider_has_a_complete_spec(name: str) -> None:
    spec = SPECS[name]
    assert isinstance(spec, ProviderSpec) and spec.name == name and spec_for(name) is spec
    module, _, attr = spec.factory.partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert spec.image.fit("high") is not None and spec.image.tokens(512, 512, "high") > 0
    if spec.simulated:  # local: no key, no URL, no API, no batch, and free
        assert spec.free and not spec.key_vars and spec.base_url_var is None
        assert not spec.apis and not spec.batch and not spec.needs_base_url
    else:  # a network provider: where its key comes from, and its API choices
        assert spec.key_vars and spec.apis and not spec.free and spec.answers_from is None
    if spec.batch:
        cls = getattr(importlib.import_module(module), attr)
        assert all(hasattr(cls, m) for m in ("batch_line", "submit_batch", "batch_results"))


def test_an_unknown_provider_is_a_usage_error() -> None:
    with pytest.raises(chainlang.errors.UsageError, match="known: openai"):
        spec_for("opena")


def _named_providers(tree: ast.AST) -> list[tuple[int, str]]:
    """Provider names compared against, or listed together, or used as a prefix test."""
    found: list[tuple[int, str]] = []

    def names(nodes: list[ast.expr]) -> list[str]:
        return [n.value for n in nodes if isinstance(n, ast.Constant) and n.value in NAMES]

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            found += [(node.lineno, n) for n in names([node.left, *node.comparators])]
        elif isinstance(node, ast.Set | ast.Tuple | ast.List):
            strings = [e for e in node.elts if isinstance(e, ast.Constant)]
            listed = names(node.elts)
            # a set of provider names, not a list that happens to hold one (package names)
            if len(listed) >= 2 and len(listed) == len(strings):
                found += [(node.lineno, n) for n in listed]
        elif isinstance(node, ast.Dict):
            found += [(node.lineno, n) for n in names([k for k in node.keys if k is not None])]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "startswith":
            prefixes = [a.value.rstrip(":") for a in node.args if isinstance(a, ast.Constant)]
            found += [(node.lineno, p) for p in prefixes if p in NAMES]
    return found


def test_no_module_outside_the_providers_names_a_provider() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path.is_relative_to(root) for root in ALLOWED):
            continue
        for line, name in _named_providers(ast.parse(path.read_text(), str(path))):
            offences.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name!r}")
    assert not offences, "ask chainlang.providers.specs instead:\n" + "\n".join(offences)


def test_the_provider_check_finds_what_it_looks_for() -> None:
    named = [
        'FREE = frozenset({"oracle", "random"})',
        'if provider == "openai": pass',
        'spec.startswith("specialist:")',
    ]
    found = _named_providers(ast.parse("\n".join(named)))
    assert sorted(n for _, n in found) == ["openai", "oracle", "random", "specialist"]
    allowed = '_PACKAGES = ("numpy", "openai", "anthropic")\nraise ItemFailed("oracle", "m")'
    assert _named_providers(ast.parse(allowed)) == []


# Keys computed by the journal before the provider specs existed: a changed key would make
# every user's journal miss, so these are pinned, not recomputed.
PINNED = {
    "openai:gpt-4o": "a11498af98897990ada8bd5a21e744f3138004daed1c3db7cd7a85d52cc7feb6",
    "anthropic:claude-x:api=native": "d587b9b7a2d488af81a808dc40e8d22db7464cd67a7c3e36f92f4987ab833d4b",  # noqa: E501
    "gemini:g": "fcaba132eb0afb29ab567f37b70b07e672ba4677c32ecc4f3da1036a4ed3d058",
    "openai-compat:q@http://h/v1": "5822f55ae8e8066fba4d030680e0e06b36c12dae0600e0537e4149d2f60cd21e",  # noqa: E501
    "oracle": "9e3428108df0b4afb41acb4f179e3cc2d7946ea9b4f13f3dd85f9e30f2c3bb68",
    "oracle:flip=0.3": "7fdeedefdbb60267f0f16e3318dbb1c28ec22eec23723af9a506d55d81c1a1b1",
    "random": "60d29f1edfe33ea5607632deca1b75ea08c38abdf017a73f9432794d36901c6c",
    "specialist:folder:/p": "4617d542fdc0cb6c4a4ae259b12759c4f9418d4edcaa4bb6135dde07170e73ad",
}


@pytest.mark.parametrize("spec", sorted(PINNED))
def test_request_keys_are_unchanged(spec: str) -> None:
    image = ImageData.of(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3))
    question = (TextPart("which is nearer?"), ImagePart(image, "low"))
    request = ModelRequest(
        model=parse_model(spec),
        messages=(Message("system", (TextPart("be brief"),)), Message("user", question)),
        answer_type=EnumT(values=("red", "blue")),
        schema={"type": "object"},
        params=Params(temperature=0.0, max_tokens=50, seed=1),
        sample_index=2,
        oracle={"1": "red"},
    )
    assert keys.request_key(request, "v1") == PINNED[spec]
    assert cache.request_key is keys.request_key  # the journal's name still works


# Image-token estimates before the rules moved into the specs (the price of a plan).
TOKENS = {
    ("openai:gpt-4o", "high"): [255, 255, 765, 1105, 765, 765],
    ("openai:gpt-4o", "low"): [85, 85, 85, 85, 85, 85],
    ("anthropic:c", "high"): [1, 103, 1049, 1532, 1533, 82],
    ("gemini:g", "high"): [258, 258, 516, 3096, 4128, 1032],
    ("openai-compat:q@http://h/v1", "low"): [255, 255, 765, 1105, 765, 765],
    ("random", "high"): [255, 255, 765, 1105, 765, 765],
}
SIZES = [(1, 1), (385, 200), (1024, 768), (2000, 3000), (5000, 5000), (4000, 100)]


@pytest.mark.parametrize(("spec", "detail"), sorted(TOKENS))
def test_image_token_rules_are_unchanged(spec: str, detail: str) -> None:
    ref = parse_model(spec)
    # detail is a plain str here; the parametrised values are the Detail literals
    tokens = [image_tokens(ref, size, detail) for size in SIZES]  # type: ignore[arg-type]
    assert tokens == TOKENS[(spec, detail)]
