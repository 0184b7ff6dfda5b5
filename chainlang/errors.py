"""The exception tree of chainlang.

Every error a user can cause is one of these, and the CLI turns each into a
clear message (never a traceback)::

    ChainlangError
     ├─ CompileError        a .chain file has diagnostics (carries them all)
     ├─ UsageError          bad command-line or API arguments (unknown model spec, missing key)
     ├─ DataError           a dataset, manifest, image or truth file is missing or malformed
     ├─ RunError            a run cannot start or continue (folder mismatch, budget exceeded)
     ├─ OperationError      a standard-library operation got values it cannot work on
     │                      (carries the .chain origin of the call)
     └─ ScoringError        scoring cannot proceed (no truth, mismatched outputs, missing weights)

Provider failures are not exceptions at this level: a failed question is
recorded as data (``chainlang.providers.base.ProviderError`` inside the
scheduler) and reported in coverage.
"""

from __future__ import annotations

from collections.abc import Mapping


class ChainlangError(Exception):
    """Base class of every error chainlang raises on purpose."""


class CompileError(ChainlangError):
    """A chain has errors; ``diagnostics`` holds every one of them."""

    def __init__(self, diagnostics: object, message: str | None = None) -> None:
        self.diagnostics = diagnostics
        # file name -> its SourceFile, set by the compiler so the diagnostics can be shown
        self.sources: Mapping[str, object] = {}
        super().__init__(message or "the chain has errors")


class UsageError(ChainlangError):
    """The caller asked for something that cannot work as asked."""


class DataError(ChainlangError):
    """A dataset item, image or truth file is missing, unreadable or malformed."""


class RunError(ChainlangError):
    """A run cannot start or continue."""


class OperationError(ChainlangError):
    """A standard-library operation failed on the values it was given."""

    def __init__(self, message: str, origin: str | None = None) -> None:
        self.origin = origin
        super().__init__(f"{origin}: {message}" if origin else message)


class ScoringError(ChainlangError):
    """Scoring cannot proceed."""


def io_reason(exc: BaseException) -> str:
    """Why a file could not be read or written, in words (never an exception class name).

    >>> io_reason(FileNotFoundError(2, "No such file or directory"))
    'no such file or folder'
    >>> io_reason(IsADirectoryError(21, "Is a directory"))
    'it is a folder, not a file'
    """
    words = {
        FileNotFoundError: "no such file or folder",
        IsADirectoryError: "it is a folder, not a file",
        NotADirectoryError: "a part of the path is a file, not a folder",
        PermissionError: "permission denied",
        FileExistsError: "it already exists",
        UnicodeDecodeError: "not UTF-8 text",
    }
    for kind, said in words.items():
        if isinstance(exc, kind):
            return said
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or "unreadable"
