"""Checker pass: prompts, variants, messages, image slots and template holes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chainlang.errors import io_reason
from chainlang.language import codes, ir
from chainlang.language.checking.helpers import (
    _flags,
    _merge,
)
from chainlang.language.checking.state import CheckState
from chainlang.language.diagnostics import did_you_mean
from chainlang.language.source import Span
from chainlang.language.syntax import nodes as n
from chainlang.language.types import (
    ERROR_TYPE,
    FieldT,
    ImageT,
    ListT,
    OptionalT,
    RecordT,
    TextT,
    Type,
    assignable,
    is_answer_type,
)
from chainlang.stdlib.typenames import ANY

ERR = ERROR_TYPE
# The next brace that matters in prompt text, and a hole at a brace.
_BRACE = re.compile(r"\{\{|\}\}|\{")
_HOLE = re.compile(r"\{(\w+)\}")


class PromptChecks(CheckState):
    """Prompt declarations → IR prompts (a pass of :class:`Checker`)."""

    if TYPE_CHECKING:
        # Provided by :class:`Checker`, which mixes this pass in.
        def type_of(self, t: n.TypeNode) -> Type: ...

    def prompt_decl(self, d: n.PromptDecl) -> ir.Prompt | None:
        """Check a prompt: parameter and answer types, holes, image slots, variants."""
        params: dict[str, ir.PromptParam] = {}
        for i, p in enumerate(d.params):
            first = next((x for x in d.params[:i] if x.name == p.name), None)
            if first is not None:
                self.diags.add(codes.duplicate_name(p.span, "prompt parameter", p.name, first.span))
                continue
            params[p.name] = ir.PromptParam(name=p.name, type=self.type_of(p.type), each=p.each)
        answer = self.type_of(d.answer)
        if answer != ERR and not is_answer_type(answer):
            self.diags.add(codes.no_json_form(d.answer.span, answer.show()))
            answer = ERR
        base = [self._message(m, params) for m in d.items if isinstance(m, n.Message)]
        variants = self._variants(d, params, base)
        if answer == ERR or any(m is None for m in base) or variants is None:
            return None
        reasoning = any(v.reasoning for v in variants)
        element = answer
        if reasoning and isinstance(answer, RecordT) and answer.field("reasoning") is None:
            extra = FieldT(name="reasoning", type=ListT(item=TextT()))
            element = RecordT(name=answer.name, fields=(extra, *answer.fields))
        default = next(
            (v.name for v in variants if "default" in _flags(d, v.name)), variants[0].name
        )
        return ir.Prompt(
            name=d.name,
            params=tuple(params.values()),
            answer=answer,
            element=element,
            variants=tuple(variants),
            default_variant=default,
            origin=d.span.origin(),
        )

    def _variants(
        self, d: n.PromptDecl, params: dict[str, ir.PromptParam], base: list[ir.Message | None]
    ) -> list[ir.Variant] | None:
        decls = [v for v in d.items if isinstance(v, n.Variant)]
        out: list[ir.Variant] = []
        ok = True
        defaults = [v.span for v in decls if "default" in v.flags]
        if len(defaults) > 1:
            self.diags.add(codes.several_defaults(d.span, d.name, defaults))
        for i, v in enumerate(decls):
            first = next((x for x in decls[:i] if x.name == v.name), None)
            if first is not None:
                self.diags.add(codes.duplicate_variant(v.span, v.name, first.span))
                continue
            msgs = [self._message(m, params) for m in v.messages]
            ok = ok and None not in msgs
            out.append(
                ir.Variant(
                    name=v.name,
                    reasoning="reasoning" in v.flags,
                    messages=_merge([m for m in base if m], [m for m in msgs if m]),
                    origin=v.span.origin(),
                )
            )
        if not decls:
            out.append(
                ir.Variant(
                    name="base", messages=tuple(m for m in base if m), origin=d.span.origin()
                )
            )
        if ok and None not in base and not any(m.role != "system" for v in out for m in v.messages):
            self.diags.add(codes.no_user_message(d.span, d.name))
            ok = False
        return out if ok else None

    def _message(self, m: n.Message, params: dict[str, ir.PromptParam]) -> ir.Message | None:
        parts: list[ir.TextPart | ir.ImageSlot] = []
        ok = True
        for part in m.parts:
            if isinstance(part, n.ImagePart):
                ok = self._slot(part, m, params) and ok
                detail = part.detail or "high"
                # arg-type: the grammar's DETAIL admits only high/low/auto (pydantic checks too)
                slot = ir.ImageSlot(param=part.param, detail=detail, origin=part.span.origin())  # type: ignore[arg-type]
                parts.append(slot)
                continue
            text = part.text if isinstance(part, n.TextPart) else self._read_text(part)
            if text is None:
                ok = False
                continue
            segs = self._holes(text, part.span, m, params)
            ok = ok and segs is not None
            parts.append(ir.TextPart(segments=tuple(segs or ()), origin=part.span.origin()))
        if not ok:
            return None
        # arg-type: the grammar admits only the message roles (pydantic checks too)
        return ir.Message(role=m.role, each=m.each, parts=tuple(parts), origin=m.span.origin())  # type: ignore[arg-type]

    def _slot(self, part: n.ImagePart, m: n.Message, params: dict[str, ir.PromptParam]) -> bool:
        p = params.get(part.param)
        if p is None or not assignable(p.type, OptionalT(item=ImageT())) or p.type == ANY:
            images = [q.name for q in params.values() if isinstance(q.type, ImageT)]
            hint = did_you_mean(part.param, images)
            self.diags.add(codes.image_slot(part.span, part.param, hint=hint))
            return False
        if p.each and not m.each:
            self.diags.add(codes.per_item_outside_each(part.span, part.param, hole=False))
            return False
        return True

    def _read_text(self, part: n.FilePart) -> str | None:
        try:
            return (self.base_dir / part.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = io_reason(exc)
            self.diags.add(codes.unreadable_prompt_text(part.span, part.path, reason))
            return None

    def _holes(
        self, text: str, span: Span, m: n.Message, params: dict[str, ir.PromptParam]
    ) -> list[ir.TextSeg | ir.HoleSeg] | None:
        # One pass from brace to brace, text gathered in a list: linear in the text
        # (a 5 MB literal took minutes when every character was appended to a string).
        segs: list[ir.TextSeg | ir.HoleSeg] = []
        ok, buf, i = True, [], 0
        while (brace := _BRACE.search(text, i)) is not None:
            start = brace.start()
            buf.append(text[i:start])
            if brace.group() != "{":  # "{{" or "}}": an escaped brace
                buf.append(brace.group()[0])
                i = start + 2
                continue
            hole = _HOLE.match(text, start)
            if hole is None or not hole.group(1).isidentifier():
                buf.append("{")  # a lone brace is text
                i = start + 1
                continue
            name = hole.group(1)
            ok = self._hole(name, span, m, params) and ok
            if joined := "".join(buf):
                segs.append(ir.TextSeg(text=joined))
            segs.append(ir.HoleSeg(name=name))
            buf, i = [], hole.end()
        buf.append(text[i:])
        if joined := "".join(buf):
            segs.append(ir.TextSeg(text=joined))
        return segs if ok else None

    def _hole(self, name: str, span: Span, m: n.Message, params: dict[str, ir.PromptParam]) -> bool:
        if (name == "key" and m.each) or name == "count":
            return True
        p = params.get(name)
        if p is None:
            cands = [*params, "count", *(["key"] if m.each else [])]
            hint = did_you_mean(name, cands)
            self.diags.add(codes.unknown_hole(span, name, list(params), hint))
            return False
        if isinstance(p.type, ImageT):
            self.diags.add(codes.image_slot(span, name, as_hole=True))
            return False
        if (p.each and not m.each) or name == "key":
            self.diags.add(codes.per_item_outside_each(span, name, hole=True))
            return False
        return True
