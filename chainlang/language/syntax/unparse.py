"""AST → canonical text: the ``chainlang fmt`` layout.

One construct per line, two-space indents, minimal parentheses, keyword
arguments as ``name = value``. Comments are kept as leading comments of the
item they were attached to by the builder. For every valid program
``parse(unparse(parse(x))) == parse(x)``.
"""

from __future__ import annotations

import json
from itertools import pairwise

from chainlang.language.syntax import nodes as n

_IND = "  "

# Binding strength of each expression form (higher binds tighter).
_PREC = {"if": 0, "or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_CMP = {"==", "!=", "<", "<=", ">", ">="}


#: The line length ``fmt`` keeps to where a bracketed list can be broken.
WIDTH = 100


def unparse(module: n.Module) -> str:
    """Render a module in the canonical layout (ends with one newline)."""
    chunks = [_fit(_module_item(item)) for item in module.items]
    text = "\n\n".join(chunks)
    if module.tail:
        text += ("\n\n" if text else "") + "\n".join(module.tail)
    return text + "\n" if text else ""


def _comments(comments: tuple[str, ...], ind: str) -> list[str]:
    return [ind + c for c in comments]


def _module_item(item: n.ModuleItem) -> str:
    lines = _comments(item.comments, "")
    if isinstance(item, n.Import):
        lines.append(f"from {quote(item.path)} import {', '.join(item.names)}")
    elif isinstance(item, n.ChainDecl):
        lines.extend(_chain(item))
    else:
        lines.extend(_decl(item, ""))
    return "\n".join(lines)


def _decl(item: n.LabelsDecl | n.AnswerDecl | n.PromptDecl, ind: str) -> list[str]:
    if isinstance(item, n.LabelsDecl):
        return [f"{ind}labels {item.name} = {quote(item.path)}"]
    if isinstance(item, n.AnswerDecl):
        if item.alias or not isinstance(item.type, n.RecordType):
            return [f"{ind}answer {item.name} = {type_text(item.type)}"]
        return [f"{ind}answer {item.name} {_record_type(item.type, ind)}"]
    return _prompt(item, ind)


# ---- types ----


def type_text(t: n.TypeNode) -> str:
    """Render a type node the way it is written."""
    if isinstance(t, n.NamedType):
        return t.name
    if isinstance(t, n.LabelType):
        return f"Label({t.labelset})"
    if isinstance(t, n.ListType):
        return f"[{type_text(t.item)}]"
    if isinstance(t, n.EnumType):
        return " | ".join(quote(v) for v in t.values)
    if isinstance(t, n.OptionalType):
        return f"{type_text(t.item)}?"
    if isinstance(t, n.RangeType):
        return f"{t.name}({t.lo!r}..{t.hi!r})"
    if isinstance(t, n.FixedListType):
        return f"[{type_text(t.item)}; {t.length}]"
    if isinstance(t, n.PermutationType):
        if t.labelset is not None:
            return f"permutation of Label({t.labelset})"
        return "permutation of [" + ", ".join(quote(v) for v in t.values) + "]"
    return _record_type(t, "")


def _record_type(t: n.RecordType, ind: str) -> str:
    if not t.fields:
        return "{}"
    if not ind and all(f.doc is None for f in t.fields) and len(t.fields) <= 3:
        return "{ " + ", ".join(f"{f.name}: {type_text(f.type)}" for f in t.fields) + " }"
    body = [f"{ind}{_IND}{f.name}: {type_text(f.type)}" + _doc(f.doc) for f in t.fields]
    return "{\n" + "\n".join(body) + f"\n{ind}}}"


def _doc(doc: str | None) -> str:
    return f" {quote(doc)}" if doc is not None else ""


# ---- prompts ----


def _prompt(p: n.PromptDecl, ind: str) -> list[str]:
    params = ", ".join(
        ("each " if q.each else "") + f"{q.name}: {type_text(q.type)}" for q in p.params
    )
    lines = [f"{ind}prompt {p.name}({params}) -> {type_text(p.answer)} {{"]
    for item in p.items:
        lines.extend(_comments(item.comments, ind + _IND))
        if isinstance(item, n.Message):
            lines.append(ind + _IND + _message(item))
        else:
            flags = "".join(f" {f}" for f in item.flags)
            lines.append(f"{ind}{_IND}variant {item.name}{flags} {{")
            for m in item.messages:
                lines.extend(_comments(m.comments, ind + _IND * 2))
                lines.append(ind + _IND * 2 + _message(m))
            lines.append(f"{ind}{_IND}}}")
    lines.append(f"{ind}}}")
    return lines


def _message(m: n.Message) -> str:
    parts = []
    for part in m.parts:
        if isinstance(part, n.TextPart):
            parts.append(quote(part.text))
        elif isinstance(part, n.FilePart):
            parts.append(f"file {quote(part.path)}")
        else:
            parts.append(f"[{part.param}{' ' + part.detail if part.detail else ''}]")
    return ("each " if m.each else "") + m.role + " " + " ".join(parts)


# ---- chains ----


def _chain(c: n.ChainDecl) -> list[str]:
    head = f"chain {c.name}" + (f" {quote(c.doc)}" if c.doc is not None else "") + " {"
    lines = [head]
    prev = None
    for item in c.items:
        group = _group(item)
        if prev is not None and (group != prev or group == "prompt"):
            lines.append("")  # a blank line between sections keeps chains readable
        prev = group
        lines.extend(_comments(item.comments, _IND))
        lines.extend(_chain_item(item, _IND))
    lines.extend(_comments(c.tail, _IND))
    lines.append("}")
    return lines


def _group(item: n.ChainItem) -> str:
    if isinstance(item, n.InputDecl | n.TruthDecl | n.OutputDecl | n.ScoreDecl):
        return "io"
    if isinstance(item, n.Let | n.Return):
        return "body"
    return type(item).__name__


def _chain_item(item: n.ChainItem, ind: str) -> list[str]:
    if isinstance(item, n.InputDecl):
        return [f"{ind}input {item.name}: {type_text(item.type)}"]
    if isinstance(item, n.TruthDecl):
        return [f"{ind}truth {item.name}: {type_text(item.type)}"]
    if isinstance(item, n.OutputDecl):
        return [f"{ind}output {type_text(item.type)}"]
    if isinstance(item, n.ScoreDecl):
        return [f"{ind}score " + ", ".join(_metric_use(m) for m in item.metrics)]
    if isinstance(item, n.ParamDecl):
        default = f" = {expr_text(item.default)}" if item.default is not None else ""
        return [f"{ind}param {item.name}: {type_text(item.type)}{default}{_doc(item.doc)}"]
    if isinstance(item, n.DefaultsDecl):
        return _defaults(item, ind)
    if isinstance(item, n.BatchDecl):
        return [f"{ind}batch items = {expr_text(item.size)}"]
    if isinstance(item, n.Let | n.Return):
        return _stmt(item, ind)
    return _decl(item, ind)


def _metric_use(m: n.MetricUse) -> str:
    args = [expr_text(m.truth), *(f"{k.name} = {expr_text(k.value)}" for k in m.args)]
    return f"{m.metric}({', '.join(args)})"


def _defaults(d: n.DefaultsDecl, ind: str) -> list[str]:
    settings = [
        f"{s.name} = {expr_text(s.value)}"
        if isinstance(s, n.ParamSetting)
        else f"variant {s.prompt} = {s.variant}"
        for s in d.settings
    ]
    head = f"{ind}defaults for {quote(d.pattern)} {{"
    inline = f"{head} {'  '.join(settings)} }}" if settings else f"{head} }}"
    if len(inline) <= WIDTH:
        return [inline]
    return [head, *(f"{ind}{_IND}{x}" for x in settings), f"{ind}}}"]


def _stmt(s: n.Let | n.Return, ind: str) -> list[str]:
    lead = f"let {s.name} = " if isinstance(s, n.Let) else "return "
    body = _value(s.value, ind)
    body[0] = ind + lead + body[0]
    return body


def _lets(lets: tuple[n.Let, ...], ind: str) -> list[str]:
    lines: list[str] = []
    for let in lets:
        lines.extend(_comments(let.comments, ind))
        lines.extend(_stmt(let, ind))
    return lines


def _value(v: n.Value, ind: str) -> list[str]:
    """Lines of a value; the first line has no indent (the caller prefixes it)."""
    if isinstance(v, n.Ask):
        return _ask(v, ind)
    if isinstance(v, n.For):
        batch = f" batch {expr_text(v.batch)}" if v.batch is not None else ""
        head = f"for {v.var} in {expr_text(v.source)}{batch} {{"
        return [head, *_block_body(v.body, ind + _IND), f"{ind}}}"]
    if isinstance(v, n.Repeat):
        return _repeat(v, ind)
    if isinstance(v, n.IfBlock):
        return [
            f"if {expr_text(v.cond)} {{",
            *_block_body(v.then, ind + _IND),
            f"{ind}}} else {{",
            *_block_body(v.otherwise, ind + _IND),
            f"{ind}}}",
        ]
    return [expr_text(v)]


def _block_body(b: n.Block, ind: str) -> list[str]:
    last = _value(b.value, ind)
    last[0] = ind + last[0]
    return [*_lets(b.lets, ind), *_comments(b.lead, ind), *last, *_comments(b.tail, ind)]


def _ask(a: n.Ask, ind: str) -> list[str]:
    args = ", ".join(f"{k.name} = {expr_text(k.value)}" for k in a.args)
    head = f"ask {a.prompt}({args})"
    if a.variant is not None:
        head += f" variant {a.variant}"
    if a.samples is not None:
        head += f" samples {expr_text(a.samples)}"
    lines = [head]
    if a.oracle is not None:
        lines.extend(_clause("oracle", a.oracle, ind + _IND))
    if a.skip:
        lines.append(f"{ind}{_IND}else skip")
    elif a.fallback is not None:
        lines.extend(_clause("else", a.fallback, ind + _IND))
    return lines


def _clause(word: str, c: n.ClauseBody, ind: str) -> list[str]:
    inner = ind + _IND
    body = _lets(c.lets, inner)
    if c.fields is not None:
        for f in c.fields:
            body.extend(_comments(f.comments, inner))
            body.append(f"{inner}{f.name} = {expr_text(f.value)}")
    elif c.expr is not None:
        body.extend(_comments(c.lead, inner))
        body.append(inner + expr_text(c.expr))
    return [f"{ind}{word} {{", *body, *_comments(c.tail, inner), f"{ind}}}"]


def _repeat(r: n.Repeat, ind: str) -> list[str]:
    state = ", ".join(
        f"{s.name}"
        + (f": {type_text(s.type)}" if s.type is not None else "")
        + f" = {expr_text(s.init)}"
        for s in r.state
    )
    head = f"repeat with {{ {state} }} up to {expr_text(r.bound)} until {expr_text(r.until)} {{"
    inner = ind + _IND
    return [
        head,
        *_lets(r.lets, inner),
        *_comments(r.lead, inner),
        f"{inner}next {expr_text(r.next)}",
        *_comments(r.tail, inner),
        f"{ind}}}",
    ]


# ---- expressions ----


def quote(s: str) -> str:
    """A string literal for ``s``: triple-quoted for multi-line text, else escaped.

    >>> quote('a "b"')
    '"a \\\\"b\\\\""'
    """
    if "\n" in s and '"""' not in s and not s.endswith('"') and "\\" not in s:
        return f'"""{s}"""'
    return json.dumps(s, ensure_ascii=False)


def _prec(e: n.Expr) -> int:
    if isinstance(e, n.IfExpr):
        return 0
    if isinstance(e, n.Binary):
        return 4 if e.op in _CMP else _PREC[e.op]
    if isinstance(e, n.Unary):
        return 3 if e.op == "not" else 7
    return 9


def _wrap(e: n.Expr, need: int) -> str:
    text = expr_text(e)
    return f"({text})" if _prec(e) < need else text


def expr_text(e: n.Expr) -> str:
    """Render an expression with the fewest parentheses that keep its meaning."""
    if isinstance(e, n.Binary):
        p = _prec(e)
        # Comparisons do not chain, so both sides must bind tighter.
        left_need = p + 1 if e.op in _CMP else p
        return f"{_wrap(e.left, left_need)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, n.Unary):
        if e.op == "not":
            return f"not {_wrap(e.operand, 3)}"
        return f"-{_wrap(e.operand, 7)}"
    if isinstance(e, n.IfExpr):
        return f"if {_wrap(e.cond, 1)} then {_wrap(e.then, 1)} else {expr_text(e.otherwise)}"
    if isinstance(e, n.Field):
        return f"{_wrap(e.obj, 8)}.{e.name}"
    return _atom(e)


def _atom(e: n.Expr) -> str:
    if isinstance(e, n.IntLit):
        return str(e.value)
    if isinstance(e, n.FloatLit):
        return repr(e.value)
    if isinstance(e, n.StrLit):
        return quote(e.value)
    if isinstance(e, n.BoolLit):
        return "true" if e.value else "false"
    if isinstance(e, n.NoneLit):
        return "none"
    if isinstance(e, n.Name):
        return e.name
    if isinstance(e, n.Call):
        args = [expr_text(a) for a in e.args] + [
            f"{k.name} = {expr_text(k.value)}" for k in e.kwargs
        ]
        return f"{e.op}({', '.join(args)})"
    if isinstance(e, n.ListLit):
        return "[" + ", ".join(expr_text(i) for i in e.items) + "]"
    if isinstance(e, n.Comprehension):
        cond = f" if {expr_text(e.cond)}" if e.cond is not None else ""
        return f"[{expr_text(e.result)} for {e.var} in {expr_text(e.source)}{cond}]"
    if isinstance(e, n.RecordLit):
        if not e.fields:
            return "{}"
        return "{ " + ", ".join(f"{f.name} = {expr_text(f.value)}" for f in e.fields) + " }"
    raise TypeError(f"not an expression node: {type(e).__name__}")


# ---- line breaking ----


def _fit(text: str) -> str:
    """Break lines longer than :data:`WIDTH` at their bracketed, comma-separated lists.

    Works on the rendered text, so every construct that writes a list (calls,
    list and record literals, prompt parameters, loop state) wraps the same way:
    the line's last list gets one item per line, two spaces deeper, the closing
    bracket back on the opening line's indent; items still too long are broken
    the same way. Whitespace is insignificant to the grammar, so the wrapped
    text parses to the same module. Lines inside triple-quoted text and
    comments are left alone, and so is a line whose last list starts beyond the
    width (a long string, or `if a then [x, y] else [y, x]`): it stays long.
    """
    out: list[str] = []
    in_text = False
    for line in text.split("\n"):
        if in_text or '"""' in line or line.lstrip().startswith("#"):
            in_text ^= line.count('"""') % 2 == 1
            out.append(line)
        else:
            out.extend(_break(line))
    return "\n".join(out)


def _break(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    group = _last_list(line)
    if group is None or group[0] + 1 > WIDTH:
        return [line]  # nothing to break, or breaking it would not shorten the line enough
    start, end, commas = group
    ind = line[: len(line) - len(line.lstrip())]
    cuts = [start + 1, *(c + 1 for c in commas), end]
    items = [line[a:b].strip().rstrip(",").strip() for a, b in pairwise(cuts)]
    inner = [f"{ind}  {item}," for item in items[:-1]] + [f"{ind}  {items[-1]}"]
    lines = [line[: start + 1], *inner, ind + line[end:]]
    return [x for piece in lines for x in _break(piece)]


def _last_list(line: str) -> tuple[int, int, list[int]] | None:
    """The last outermost bracket pair of ``line`` holding a top-level comma.

    Returns its opening and closing offsets and its commas' offsets; string
    literals are skipped, brackets left open (a block's ``{``) are not lists.
    Breaking the last list (as Black does) keeps what follows it short: a
    block's ``{``, `` -> T {``, ``} up to N until c {``.
    """
    best: tuple[int, int, list[int]] | None = None
    stack: list[tuple[int, list[int]]] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif ch in "([{":
            stack.append((i, []))
        elif ch in ")]}" and stack:
            start, commas = stack.pop()
            if not stack and commas:
                best = (start, i, commas)
        elif ch == "," and stack:
            stack[-1][1].append(i)
        i += 1
    return best
