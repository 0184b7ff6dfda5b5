"""Markdown descriptions of what a name stands for (hover and completion share them)."""

from __future__ import annotations

from chainlang.language.syntax import nodes as n
from chainlang.language.syntax.unparse import expr_text, quote, type_text
from chainlang.language.types import Type
from chainlang.lsp.index import Symbol
from chainlang.lsp.opdocs import operation_doc
from chainlang.stdlib import Operation


def code(text: str) -> str:
    """A fenced chain-language block."""
    return f"```chain\n{text}\n```"


def op_signature(op: Operation) -> str:
    """``name(p: T = default, ...) -> R``."""
    params = []
    for p in op.params:
        shown = " | ".join(t.show() for t in p.types)
        if p.has_default:
            shown += f" = {_literal(p.default)}"
        params.append(f"{p.name}: {shown}")
    return f"{op.name}({', '.join(params)}) -> {op.result.show()}"


def describe_op(op: Operation) -> str:
    """Signature and docstring of an operation."""
    doc = operation_doc(op)
    return code(op_signature(op)) + (f"\n\n{doc}" if doc else "")


def _literal(v: object) -> str:
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return "none" if v is None else repr(v)


def prompt_signature(p: n.PromptDecl) -> str:
    """``prompt name(each x: T, ...) -> Answer``."""
    params = ", ".join(
        f"{'each ' if q.each else ''}{q.name}: {type_text(q.type)}" for q in p.params
    )
    return f"prompt {p.name}({params}) -> {type_text(p.answer)}"


def describe_prompt(p: n.PromptDecl, chain: n.ChainDecl | None) -> str:
    """A prompt's parameters, answer, variants (with flags) and who picks which variant."""
    lines = [code(prompt_signature(p))]
    variants = [v for v in p.items if isinstance(v, n.Variant)]
    if variants:
        lines.append("\n**variants**")
        for v in variants:
            flags = f" ({', '.join(v.flags)})" if v.flags else ""
            lines.append(f"- `{v.name}`{flags}")
        if not any("default" in v.flags for v in variants):
            lines.append("- `base` (default: the messages outside any variant)")
    picks = _variant_defaults(p.name, chain)
    if picks:
        lines.append("\n**per-model variants**")
        lines.extend(f"- `{pattern}`: `{variant}`" for pattern, variant in picks)
    return "\n".join(lines)


def _variant_defaults(prompt: str, chain: n.ChainDecl | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for d in _defaults(chain):
        for s in d.settings:
            if isinstance(s, n.VariantSetting) and s.prompt == prompt:
                out.append((d.pattern, s.variant))
    return out


def _defaults(chain: n.ChainDecl | None) -> list[n.DefaultsDecl]:
    if chain is None:
        return []
    return [i for i in chain.items if isinstance(i, n.DefaultsDecl)]


def describe_answer(a: n.AnswerDecl) -> str:
    """An answer type with its fields and their descriptions."""
    if a.alias or not isinstance(a.type, n.RecordType):
        return code(f"answer {a.name} = {type_text(a.type)}")
    lines = [code(f"answer {a.name}")]
    for f in a.type.fields:
        doc = f" — {f.doc}" if f.doc else ""
        lines.append(f"- `{f.name}: {type_text(f.type)}`{doc}")
    return "\n".join(lines)


def describe_field(f: n.FieldDecl, owner: str | None) -> str:
    """One answer field."""
    head = code(f"{owner + '.' if owner else ''}{f.name}: {type_text(f.type)}")
    return head + (f"\n\n{f.doc}" if f.doc else "")


def describe_param(p: n.ParamDecl, chain: n.ChainDecl | None) -> str:
    """A parameter's type, default, doc and the per-model defaults that set it."""
    default = f" = {expr_text(p.default)}" if p.default is not None else ""
    lines = [code(f"param {p.name}: {type_text(p.type)}{default}")]
    if p.doc:
        lines.append(f"\n{p.doc}")
    if p.default is None:
        lines.append("\nrequired: give it with `-p " + p.name + "=VALUE`")
    per_model = [
        (d.pattern, expr_text(s.value))
        for d in _defaults(chain)
        for s in d.settings
        if isinstance(s, n.ParamSetting) and s.name == p.name
    ]
    if per_model:
        lines.append("\n**per-model defaults**")
        lines.extend(f"- `{pattern}`: `{value}`" for pattern, value in per_model)
    return "\n".join(lines)


def describe_symbol(sym: Symbol, t: Type | None, chain: n.ChainDecl | None) -> str:
    """What a declared name is, for hover and completion details."""
    target = sym.target()
    node = target.node
    if isinstance(node, n.PromptDecl):
        return describe_prompt(node, chain)
    if isinstance(node, n.AnswerDecl):
        return describe_answer(node)
    if isinstance(node, n.ParamDecl):
        return describe_param(node, chain)
    if isinstance(node, n.FieldDecl):
        return describe_field(node, target.parent.name if target.parent else None)
    if isinstance(node, n.LabelsDecl):
        return code(f"labels {node.name} = {quote(node.path)}")
    if isinstance(node, n.InputDecl | n.TruthDecl):
        word = "input" if isinstance(node, n.InputDecl) else "truth"
        return code(f"{word} {node.name}: {type_text(node.type)}")
    if isinstance(node, n.PromptParam):
        owner = f" (of prompt `{target.parent.name}`)" if target.parent else ""
        each = "each " if node.each else ""
        return code(f"{each}{node.name}: {type_text(node.type)}") + f"\n\nprompt parameter{owner}"
    if isinstance(node, n.Variant):
        flags = f" {' '.join(node.flags)}" if node.flags else ""
        owner = target.parent.name if target.parent else "?"
        return code(f"variant {node.name}{flags}") + f"\n\na variant of prompt `{owner}`"
    if isinstance(node, n.ChainDecl):
        return code(f"chain {node.name}") + (f"\n\n{node.doc}" if node.doc else "")
    kind = {"let": "let", "var": "loop variable", "state": "loop state"}.get(
        target.kind, target.kind
    )
    shown = t.show() if t is not None else "?"
    return code(f"{target.name}: {shown}") + f"\n\n{kind}"
