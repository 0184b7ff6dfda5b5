"""API keys echoed by a provider never reach an outcome, the journal or the results."""

from __future__ import annotations

from runtime_helpers import GPT4O, ScriptedProvider, make_request

from chainlang.providers.base import ProviderError
from chainlang.providers.common import REDACTED, redact, register_secret
from chainlang.providers.registry import ProviderSettings
from chainlang.runtime.cache import Journal
from chainlang.runtime.clock import run_virtual
from chainlang.runtime.scheduler import Scheduler

KEY = "sk-test-9fQ2xLm7Rv4Tz8Kp3Wn6Yb1Hc5Jd0Ge"


def test_redact_hides_the_key_and_its_fragments_only():
    register_secret(KEY)
    text = f"Incorrect API key provided: {KEY}. Also {KEY[10:22]} and {KEY[-9:]}."
    out = redact(text)
    assert KEY not in out and KEY[10:22] not in out and KEY[-9:] not in out
    assert out.startswith("Incorrect API key provided: ") and REDACTED in out
    assert redact("the answer is red") == "the answer is red"
    assert redact(KEY[:7]) == KEY[:7]  # shorter than a fragment: ordinary text


def test_short_keys_are_not_redacted():
    register_secret("k")
    assert redact("keep all k's") == "keep all k's"


def test_a_401_echoing_the_key_is_stored_redacted(journal_path):
    ProviderSettings(api_key=KEY)  # building a provider's settings registers its key
    echoed = ProviderError("auth", f"HTTP 401: Incorrect API key provided: {KEY}", status=401)
    provider = ScriptedProvider([echoed])

    async def main():
        sched = Scheduler({GPT4O: provider}, cache=Journal(journal_path))
        out = await sched.ask(make_request())
        await sched.aclose()
        return out

    out = run_virtual(main())
    assert out.failure_kind == "auth" and "Incorrect API key provided" in out.failure_message
    assert KEY[:12] not in out.failure_message and KEY[-12:] not in out.failure_message
    stored = b"".join(p.read_bytes() for p in journal_path.parent.glob(journal_path.name + "*"))
    assert KEY[-12:].encode() not in stored
