"""What each provider accepts: its contract, written once, with the source of every figure.

A request that breaks one of these limits is refused by the provider (HTTP 400
or 413) and is never worth paying for or retrying. The planner and the start of
a run check every request a chain will send against the target model's
:class:`Contract` (:mod:`chainlang.providers.conformance`); the fake provider
server enforces the same figures, so every test that sends a request is also a
conformance test.

Every figure below was looked up in the provider's documentation (through the
project's search of stored public pages) on 2026-12-04; each comment names the
page. Where a provider documents no figure, the field is None and nothing is
checked: we never invent a limit. A model the table does not list gets its
provider's generic limits (schema, images, request size) and no context check.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

MB = 2**20


@dataclass(frozen=True, slots=True)
class SchemaLimits:
    """What a structured-output mode accepts in one answer schema (None: not documented).

    Attributes:
        mode: the mode's name in messages ("openai strict mode").
        max_properties: object properties in the whole schema.
        max_depth: levels of object nesting.
        max_enum_values: enum values in the whole schema.
        max_total_chars: characters of property names, definition names, enum and
            const values together.
        large_enum: above this many values, one enum's strings are also bounded by
            ``max_large_enum_chars``.
        max_large_enum_chars: characters of the values of one large enum.
        max_optional: properties not listed in ``required``, over the whole request.
        max_unions: properties with a union type (``anyOf`` or a type list).
        refs_counted_once: whether a ``$defs`` entry referenced by N keys counts once
            (None: the provider does not say, so we never rely on it).
    """

    mode: str
    max_properties: int | None = None
    max_depth: int | None = None
    max_enum_values: int | None = None
    max_total_chars: int | None = None
    large_enum: int | None = None
    max_large_enum_chars: int | None = None
    max_optional: int | None = None
    max_unions: int | None = None
    refs_counted_once: bool | None = None


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one request may carry in images (None: not documented).

    ``resize`` says in words what the provider does to an image larger than it
    keeps; :class:`~chainlang.providers.specs.ImageRule` applies that rule before
    sending, so the size sent is the size billed.
    """

    max_images: int | None = None
    max_image_bytes: int | None = None  # one image, as encoded in the body (base64)
    max_side: int | None = None  # longest side in pixels
    many_images: int | None = None  # above this many images per request ...
    max_side_many: int | None = None  # ... each image's longest side is bounded by this
    resize: str = ""


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """One model's context window and output cap in tokens (None: unknown)."""

    context: int | None = None
    max_output: int | None = None


@dataclass(frozen=True, slots=True)
class Contract:
    """Everything a provider refuses, for one provider.

    Attributes:
        provider: the provider's name.
        schemas: the schema limits of each ``api=`` choice (a missing api: none).
        images: the image limits.
        max_body_bytes: the largest request body.
        batch_lines: the most requests in one batch.
        batch_bytes: the largest batch (its input file or inline body).
        models: ``(glob patterns, limits)`` per model; the longest matching pattern wins.
        note: how the generic limits apply to a model the table does not list.
    """

    provider: str
    schemas: tuple[tuple[str, SchemaLimits], ...] = ()
    images: ImageLimits = ImageLimits()
    max_body_bytes: int | None = None
    batch_lines: int | None = None
    batch_bytes: int | None = None
    models: tuple[tuple[tuple[str, ...], ModelLimits], ...] = ()

    def schema_limits(self, api: str | None) -> SchemaLimits | None:
        """The schema limits of ``api`` (None: the default, the first listed)."""
        if not self.schemas:
            return None
        if api is None:
            return self.schemas[0][1]
        return dict(self.schemas).get(api)

    def model_limits(self, model: str) -> ModelLimits | None:
        """The limits of ``model`` (None: the table does not list it)."""
        best: tuple[int, ModelLimits] | None = None
        for patterns, limits in self.models:
            for pattern in patterns:
                if fnmatch.fnmatchcase(model, pattern) and (best is None or len(pattern) > best[0]):
                    best = (len(pattern), limits)
        return None if best is None else best[1]


# ---------------------------------------------------------------------------- OpenAI
# Strict structured outputs, "Supported schemas":
# https://developers.openai.com/api/docs/guides/structured-outputs#supported-schemas
# (read 2026-12-04): "up to 5000 object properties total, with up to 10 levels of
# nesting"; "total string length of all property names, definition names, enum
# values, and const values cannot exceed 120,000 characters"; "up to 1000 enum values
# across all enum properties"; "For a single enum property with string values, the
# total string length of all enum values cannot exceed 15,000 characters when there
# are more than 250 enum values". (Before July 2025: 100 properties, 5 levels, 500
# enum values, 15,000 and 7,500 characters.) The page says definitions are supported
# but not whether an enum inside one definition referenced by many keys counts once,
# so refs_counted_once stays None and the adaptation moves labels to the prompt instead.
OPENAI_STRICT = SchemaLimits(
    mode="openai strict mode",
    max_properties=5000,
    max_depth=10,
    max_enum_values=1000,
    max_total_chars=120_000,
    large_enum=250,
    max_large_enum_chars=15_000,
)
OPENAI = Contract(
    provider="openai",
    schemas=(("chat", OPENAI_STRICT), ("responses", OPENAI_STRICT)),
    # https://developers.openai.com/api/docs/guides/images-vision, "Image input
    # requirements" (read 2026-12-04): "Up to 512 MB total payload size per request",
    # "Up to 1500 individual image inputs per request" (earlier: 50 MB and 500).
    # No per-image pixel or byte limit is documented; detail=high fits the image in
    # 2048x2048, then its short side to 768; detail=low sees 512x512.
    images=ImageLimits(
        max_images=1500,
        resize="detail high: fit 2048x2048, then the short side to 768; detail low: 512x512",
    ),
    max_body_bytes=512 * MB,
    # https://developers.openai.com/api/docs/guides/batch (read 2026-12-04):
    # "Up to 50,000 requests per batch", input file up to 200 MB.
    batch_lines=50_000,
    batch_bytes=200 * MB,
    models=(
        # gpt-4o: 128K context, 16,384 output (OpenAI model page, as tabulated at
        # https://docs.uipath.com/autopilot/other/latest/user-guide/supported-models-and-limits)
        (("gpt-4o", "gpt-4o-20??-??-??", "chatgpt-4o-latest"), ModelLimits(128_000, 16_384)),
        # o3, o4-mini: 200,000 context, 100,000 output
        # (https://platform.openai.com/docs/models/o4-mini, as quoted at
        # https://vercel.com/ai-gateway/models/o4-mini.md and in RooCodeInc/Roo-Code#2691)
        (("o3", "o3-20??-??-??", "o4-mini", "o4-mini-20??-??-??"), ModelLimits(200_000, 100_000)),
        # GPT-5 family: 400K context, up to 128K output (same uipath table)
        (("gpt-5", "gpt-5-20??-??-??", "gpt-5-mini*", "gpt-5-nano*"),
         ModelLimits(400_000, 128_000)),
    ),
)  # fmt: skip

# ---------------------------------------------------------------------------- Anthropic
# Strict outputs (output_config, or a tool with strict: true) compile a grammar:
# https://platform.claude.com/docs/en/build-with-claude/structured-outputs (read
# 2026-12-04): at most 20 strict tools, "24 optional parameters across all strict
# schemas", 16 parameters with union types; no numeric constraints. A plain forced tool
# (api=tools, our default: no "strict") compiles nothing and has no documented limit.
ANTHROPIC_STRICT = SchemaLimits(mode="anthropic strict output", max_optional=24, max_unions=16)
ANTHROPIC = Contract(
    provider="anthropic",
    schemas=(("tools", SchemaLimits(mode="anthropic tool input")), ("native", ANTHROPIC_STRICT)),
    # https://platform.claude.com/docs/en/build-with-claude/vision (read 2026-12-04):
    # 100 images per request for 200k-context models (600 for others); 10 MB per image
    # base64-encoded on the direct API; 8000x8000 px at most, and above 20 images per
    # request each side at most 2000 px. Images over 1568 px on the long edge or about
    # 1.15 megapixels are scaled down by the API (and billed w*h/750 tokens after that).
    images=ImageLimits(
        max_images=100,
        max_image_bytes=10 * MB,
        max_side=8000,
        many_images=20,
        max_side_many=2000,
        resize="scaled down to a long edge of 1568 px and about 1.15 megapixels",
    ),
    # Same page and https://platform.claude.com/docs/en/api/errors: 32 MB per request
    # on the standard endpoints (413 request_too_large above it).
    max_body_bytes=32 * MB,
    # https://platform.claude.com/docs/en/build-with-claude/batch-processing (read
    # 2026-12-04): "limited to either 100,000 Message requests or 256 MB in size".
    batch_lines=100_000,
    batch_bytes=256 * MB,
    models=(
        # https://platform.claude.com/docs/en/models/sonnet-4-5/overview (read 2026-12-04):
        # "Context window: 200K tokens · Max output: 64K tokens"
        (("claude-sonnet-4-5*",), ModelLimits(200_000, 64_000)),
        # .../models/sonnet-4-6/overview and .../models/sonnet-5/overview: 1M and 128K
        (("claude-sonnet-4-6*", "claude-sonnet-5*"), ModelLimits(1_000_000, 128_000)),
    ),
)

# ---------------------------------------------------------------------------- Gemini
# https://ai.google.dev/gemini-api/docs/structured-output (read 2026-12-04) gives no
# figure: "A complex schema can result in an InvalidArgument: 400 error" (long names,
# many enum values, deep nesting). Nothing numeric is checked.
GEMINI = Contract(
    provider="gemini",
    schemas=(("generate", SchemaLimits(mode="gemini response schema")),),
    # https://ai.google.dev/gemini-api/docs/image-understanding (read 2026-12-04):
    # "a maximum of 3,600 image files per request"; inline data limits "the total
    # request size (text prompts, system instructions, and inline bytes) to 20MB".
    # No maximum image size: images over 384 px are tiled into 768x768 tiles of 258
    # tokens each.
    images=ImageLimits(
        max_images=3600,
        resize="no maximum size; tiled into 768x768 tiles (258 tokens each) above 384 px",
    ),
    max_body_bytes=20 * MB,
    # https://ai.google.dev/gemini-api/docs/batch-mode: inline batch requests stay under
    # the same 20 MB request size (larger batches go through the File API).
    batch_bytes=20 * MB,
    models=(
        # models.list of the Gemini API ("inputTokenLimit":1048576,"outputTokenLimit":65536
        # for models/gemini-2.5-flash, as recorded in several public clients' fixtures)
        (("gemini-2.5-flash", "gemini-2.5-flash-preview-*", "gemini-2.5-pro*"),
         ModelLimits(1_048_576, 65_536)),
        # https://ai.google.dev/gemini-api/docs/models/gemini-2.0-flash: 1,048,576 / 8,192
        (("gemini-2.0-flash", "gemini-2.0-flash-0??"), ModelLimits(1_048_576, 8_192)),
    ),
)  # fmt: skip

# ---------------------------------------------------------------------------- vLLM
# An OpenAI-compatible server decides its own limits. vLLM documents them as engine
# arguments (https://docs.vllm.ai/en/latest/configuration/engine_args.html, read
# 2026-12-04): --limit-mm-per-prompt "Defaults to 1 (V0) or 999 (V1) for each
# modality"; the context window is the server's --max-model-len (from the model's
# config). Guided decoding (xgrammar, outlines) documents no schema size limit, and no
# request body limit is documented. The spec options max_images=N and context=N give
# a server's own figures (openai-compat:MODEL:max_images=16@URL).
OPENAI_COMPAT = Contract(
    provider="openai-compat",
    schemas=(("chat", SchemaLimits(mode="vllm guided decoding")),),
    images=ImageLimits(max_images=999, resize="the server's processor decides"),
)

CONTRACTS: dict[str, Contract] = {c.provider: c for c in (OPENAI, ANTHROPIC, GEMINI, OPENAI_COMPAT)}


def contract_of(provider: str) -> Contract | None:
    """The contract of ``provider`` (None: a simulated answerer, which refuses nothing)."""
    return CONTRACTS.get(provider)
