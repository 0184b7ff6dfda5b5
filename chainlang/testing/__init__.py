"""Test helpers shipped with chainlang: a local server speaking the providers' wire formats."""

from __future__ import annotations

from chainlang.testing.fake_provider import FakeCall, FakeProviderServer, Faults, RecordedRequest

__all__ = ["FakeCall", "FakeProviderServer", "Faults", "RecordedRequest"]
