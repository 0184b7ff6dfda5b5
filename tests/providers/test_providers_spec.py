"""Model specs, credentials and the registry."""

from __future__ import annotations

import pytest

from chainlang.errors import UsageError
from chainlang.providers.base import ModelRef
from chainlang.providers.registry import (
    COMPAT_PLACEHOLDER_KEY,
    check_credentials,
    make_provider,
    parse_model,
    resolve_credentials,
)


@pytest.mark.parametrize(
    ("spec", "ref"),
    [
        ("openai:gpt-4o", ModelRef("openai", "gpt-4o")),
        (
            "openai:gpt-4o:api=responses",
            ModelRef("openai", "gpt-4o", api="responses", options=(("api", "responses"),)),
        ),
        ("anthropic:claude-sonnet-4-5", ModelRef("anthropic", "claude-sonnet-4-5")),
        ("gemini:gemini-2.0-flash", ModelRef("gemini", "gemini-2.0-flash")),
        (
            "openai-compat:qwen2-vl@http://127.0.0.1:8000/v1",
            ModelRef("openai-compat", "qwen2-vl", base_url="http://127.0.0.1:8000/v1"),
        ),
        (
            "openai-compat:qwen2.5vl:7b:schema=off,image_format=jpeg@http://h:1/v1",
            ModelRef(
                "openai-compat",
                "qwen2.5vl:7b",
                base_url="http://h:1/v1",
                options=(("schema", "off"), ("image_format", "jpeg")),
            ),
        ),
        ("oracle", ModelRef("oracle", "")),
        ("oracle:flip=0.3", ModelRef("oracle", "", options=(("flip", "0.3"),))),
        ("random", ModelRef("random", "")),
        ("specialist:depth-anything", ModelRef("specialist", "depth-anything")),
    ],
)
def test_parse_model_and_round_trip(spec, ref) -> None:
    assert parse_model(spec) == ref
    assert parse_model(str(ref)) == ref


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("opnai:gpt-4o", "did you mean 'openai'"),
        ("openai", "name a model"),
        ("openai-compat:qwen", "needs @BASE_URL"),
        ("openai-compat:q@ftp://x", "must start with http"),
        ("openai:gpt-4o:api=batch", "api=batch is not one of: chat, responses"),
        ("openai:gpt-4o:api=", "not key=value"),
        ("oracle@http://x", "takes no base URL"),
        ("", "empty"),
    ],
)
def test_bad_specs_are_usage_errors(spec, words) -> None:
    with pytest.raises(UsageError, match=words):
        parse_model(spec)


def test_credentials_precedence_spec_then_config_then_env() -> None:
    ref = parse_model("openai:gpt-4o")
    env = {"OPENAI_API_KEY": "env-key", "OPENAI_BASE_URL": "http://env/v1"}
    s = resolve_credentials(ref, env, {})
    assert (s.api_key, s.base_url) == ("env-key", "http://env/v1")
    s = resolve_credentials(
        ref, env, {"openai": {"api_key": "cfg-secret", "base_url": "http://cfg/v1", "timeout": 5}}
    )
    assert (s.api_key, s.base_url, s.timeout) == ("cfg-secret", "http://cfg/v1", 5.0)
    assert "cfg-secret" not in repr(s)  # keys never reach logs


def test_gemini_accepts_google_api_key_and_compat_needs_none() -> None:
    assert resolve_credentials(parse_model("gemini:g"), {"GOOGLE_API_KEY": "g"}).api_key == "g"
    compat = resolve_credentials(parse_model("openai-compat:m@http://h/v1"), {})
    assert compat.api_key == COMPAT_PLACEHOLDER_KEY and compat.base_url == "http://h/v1"
    assert resolve_credentials(parse_model("oracle"), {}).api_key is None


def test_check_credentials_lists_every_missing_key_before_work_starts() -> None:
    refs = [parse_model("openai:gpt-4o"), parse_model("gemini:g"), parse_model("random")]
    with pytest.raises(UsageError) as err:
        check_credentials(refs, {}, {})
    assert "OPENAI_API_KEY" in str(err.value) and "GEMINI_API_KEY or GOOGLE_API_KEY" in str(
        err.value
    )
    ok = check_credentials(refs, {"OPENAI_API_KEY": "a", "GEMINI_API_KEY": "b"})
    assert set(ok) == set(refs)


async def test_make_provider_builds_the_adapter_for_each_real_provider() -> None:
    env = {"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b", "GEMINI_API_KEY": "c"}
    names = {}
    for spec in ("openai:gpt-4o", "anthropic:claude-x", "gemini:g", "openai-compat:m@http://h/v1"):
        ref = parse_model(spec)
        prov = make_provider(ref, resolve_credentials(ref, env))
        names[spec] = type(prov).__name__
        await prov.aclose()
    assert names == {
        "openai:gpt-4o": "OpenAIProvider",
        "anthropic:claude-x": "AnthropicProvider",
        "gemini:g": "GeminiProvider",
        "openai-compat:m@http://h/v1": "OpenAICompatProvider",
    }


def test_compat_schema_option_is_checked() -> None:
    ref = parse_model("openai-compat:m:schema=maybe@http://h/v1")
    with pytest.raises(UsageError, match="schema='maybe'"):
        make_provider(ref, resolve_credentials(ref, {}))


async def test_simulated_answerers_are_loaded_lazily_by_dotted_path() -> None:
    for spec, cls in (("oracle:flip=0.3", "OracleProvider"), ("random", "RandomProvider")):
        ref = parse_model(spec)
        prov = make_provider(ref, resolve_credentials(ref, {}))
        assert type(prov).__name__ == cls and prov.ref == ref
        await prov.aclose()


async def test_the_providers_of_a_run_share_one_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainlang.api import RunOptions, make_providers

    monkeypatch.setenv("OPENAI_API_KEY", "a")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "b")
    refs = [parse_model("openai:gpt-4o"), parse_model("anthropic:claude-x"), parse_model("random")]
    providers = make_providers(refs, RunOptions())
    real = [providers[r] for r in refs[:2]]
    assert real[0].encoder is real[1].encoder  # an image shown to both is encoded once
    for prov in providers.values():
        await prov.aclose()
