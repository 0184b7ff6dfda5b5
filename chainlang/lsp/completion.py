"""Completion, chosen by what the text before the cursor is (it need not parse).

- after ``x.``: the fields of ``x``'s type (lifted through lists and optionals);
- inside a string that is a label or enum literal (``== "``, a field of an oracle
  clause, a parameter's value): the label names of the set, or the enum's values;
- after ``{`` in prompt text: the prompt's parameters;
- after ``ask``: prompts; inside ``ask p(``: its parameters; after ``variant``: variants;
- in a type (after ``:`` or ``->``): type names, answers, ``Label(``; inside
  ``Label(``: label sets;
- anywhere else: names in scope, operations with their signatures, and keywords.

Types come from the last analysis that parsed (the current one or, while a line is
half typed, the one before).
"""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types as lsp

from chainlang.language.checking.helpers import OPAQUE_FIELDS
from chainlang.language.labelsets import BUILTIN, LabelSetError, declared_path, load
from chainlang.language.syntax import nodes as n
from chainlang.language.types import EnumT, LabelT, ListT, OpaqueT, OptionalT, RecordT, Type
from chainlang.lsp.analysis import Analysis, chain_of, symbol_type
from chainlang.lsp.describe import describe_op, describe_symbol, op_signature
from chainlang.lsp.index import Symbol
from chainlang.stdlib import default_registry
from chainlang.stdlib.typenames import BUILTIN_NAMES

KEYWORDS = (
    "chain input truth output param defaults for answer prompt labels from import let return "
    "ask variant samples oracle else skip if then repeat with up to until next batch items "
    "each system user assistant true false none and or not in score file permutation of "
    "default reasoning high low auto"
).split()

_MAX_LABELS = 2000  # a label set's names offered at once (ImageNet has 1000)

K = lsp.CompletionItemKind


def completions(a: Analysis, offset: int) -> list[lsp.CompletionItem]:
    """The completion items at a character offset."""
    before = a.text[:offset]
    line = before[before.rfind("\n") + 1 :]
    if before.count('"""') % 2 == 1:  # inside triple-quoted prompt text: only holes
        hole = re.search(r"\{(\w*)$", line)
        params = _enclosing_prompt(a, before) if hole is not None else []
        return [_item(p, K.Variable, "prompt parameter") for p in params]
    if _in_comment(line):
        return []
    string = _open_string(line)
    if string is not None:
        return _in_string(a, offset, before, line[: len(line) - len(string) - 1], string)
    for pattern, handler in _CONTEXTS:
        m = pattern.search(before)
        if m is not None:
            return handler(a, offset, m)
    return _general(a, offset)


# ---- contexts outside strings ----


def _fields(a: Analysis, offset: int, m: re.Match[str]) -> list[lsp.CompletionItem]:
    path = m.group(1).split(".")
    if path[0] == "truth":
        t = _truth_type(a)
        if t is None:
            return [
                _item(s.name.removeprefix("truth."), K.Field, "truth")
                for name, s in a.index.top.items()
                if name.startswith("truth.")
            ]
    else:
        sym = a.index.visible(offset).get(path[0])
        t = _name_type(a, sym) if sym is not None else None
    for name in path[1:]:
        t = _field_type(t, name)
    record = _strip(t)
    if isinstance(record, OpaqueT) and record.name in OPAQUE_FIELDS:
        return [_item(name, K.Field, ft.show()) for name, ft in OPAQUE_FIELDS[record.name].items()]
    if not isinstance(record, RecordT):
        return []
    return [_item(f.name, K.Field, f.type.show(), f.doc) for f in record.fields]


def _prompts(a: Analysis, offset: int, m: re.Match[str]) -> list[lsp.CompletionItem]:
    out = []
    for name, sym in a.index.top.items():
        target = sym.target()
        if isinstance(target.node, n.PromptDecl):
            out.append(_item(name, K.Function, None, describe_symbol(sym, None, chain_of(a))))
    if not out and a.scope is not None:
        out = [_item(name, K.Function, None) for name in a.scope.prompts]
    return out


def _ask_args(a: Analysis, offset: int, m: re.Match[str]) -> list[lsp.CompletionItem]:
    given = set(re.findall(r"(\w+)\s*=", m.group(2)))
    if a.scope is None or m.group(1) not in a.scope.prompts:
        return []
    prompt = a.scope.prompts[m.group(1)]
    return [
        _item(p.name, K.Variable, p.type.show(), insert=f"{p.name} = ")
        for p in prompt.params
        if p.name not in given
    ]


def _variants(a: Analysis, offset: int, m: re.Match[str]) -> list[lsp.CompletionItem]:
    if a.scope is None or m.group(1) not in a.scope.prompts:
        return []
    prompt = a.scope.prompts[m.group(1)]
    return [
        _item(v.name, K.EnumMember, "reasoning" if v.reasoning else None) for v in prompt.variants
    ]


def _labelsets(a: Analysis, offset: int, m: re.Match[str]) -> list[lsp.CompletionItem]:
    own = list(a.scope.labelsets) if a.scope is not None else []
    return [_item(name, K.Module, "label set") for name in dict.fromkeys([*own, *BUILTIN])]


def _types(a: Analysis, offset: int, m: re.Match[str]) -> list[lsp.CompletionItem]:
    out = [_item(name, K.Class, "type") for name in sorted(BUILTIN_NAMES)]
    answers = a.scope.answers if a.scope is not None else {}
    out.extend(_item(name, K.Struct, t.show()) for name, t in answers.items())
    out.append(_item("Label", K.Class, "Label(set): one label of a label set", insert="Label("))
    out.append(_item("permutation of", K.Keyword, "each value once"))
    return out


_NAME = r"[A-Za-z_]\w*"
_CONTEXTS = [
    (re.compile(rf"({_NAME}(?:\.{_NAME})*)\.\w*$"), _fields),
    (re.compile(r"\bask\s+(\w+)\s*\(([^()]*)$"), _ask_args),
    (re.compile(r"\bask\s+(\w+)\s*\([^()]*\)\s*variant\s+\w*$"), _variants),
    (re.compile(r"\bvariant\s+(\w+)\s*=\s*\w*$"), _variants),
    (re.compile(r"\b(?:ask|variant)\s+\w*$"), _prompts),
    (re.compile(r"\bLabel\s*\(\s*\w*$"), _labelsets),
    (re.compile(r"(?::|->|\[)\s*\w*$"), _types),
]


def _general(a: Analysis, offset: int) -> list[lsp.CompletionItem]:
    chain = chain_of(a)
    out: list[lsp.CompletionItem] = []
    for name, sym in a.index.visible(offset).items():
        t = _name_type(a, sym)
        out.append(
            _item(name, K.Variable, t.show() if t else sym.kind, describe_symbol(sym, t, chain))
        )
    registry = default_registry()
    for name in registry.names():
        op = registry.get(name)
        if op is not None:
            out.append(_item(name, K.Function, op_signature(op), describe_op(op)))
    out.extend(_item(k, K.Keyword, None) for k in KEYWORDS)
    return out


# ---- inside a string ----


def _in_comment(line: str) -> bool:
    """Whether the line's text so far has a ``#`` outside strings (a comment)."""
    quoted = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return True
        i += 1
    return False


def _open_string(line: str) -> str | None:
    """The text typed so far in a string the line leaves open (None outside strings)."""
    if '"""' in line:
        return None  # triple-quoted prompt text: no literal completion there
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "#" and quote is None:
            return None
        if ch == "\\" and quote is not None:
            i += 2
            continue
        if ch == '"':
            quote = None if quote is not None else i
        i += 1
    return line[quote + 1 :] if quote is not None else None


def _in_string(
    a: Analysis, offset: int, before: str, line_before: str, typed: str
) -> list[lsp.CompletionItem]:
    hole = re.search(r"\{(\w*)$", typed)
    if hole is not None:
        prompt = _enclosing_prompt(a, before)
        return [_item(p, K.Variable, "prompt parameter") for p in prompt]
    t = _literal_type(a, offset, before, line_before)
    t = _strip(t)
    if isinstance(t, EnumT):
        return [_item(v, K.EnumMember, t.show()) for v in t.values]
    if isinstance(t, LabelT):
        return [_item(v, K.EnumMember, f"Label({t.labelset})") for v in _labels(a, t.labelset)]
    return []


def _enclosing_prompt(a: Analysis, before: str) -> list[str]:
    found = list(re.finditer(r"\bprompt\s+\w+\s*\(([^)]*)\)", before))
    if not found:
        return []
    return re.findall(r"(?:each\s+)?(\w+)\s*:", found[-1].group(1))


def _literal_type(a: Analysis, offset: int, before: str, line_before: str) -> Type | None:
    cmp = re.search(rf"({_NAME}(?:\.{_NAME})*)\s*(?:==|!=)\s*$", line_before)
    if cmp is not None:
        return _path_type(a, offset, cmp.group(1))
    head = before[: before.rfind('"')]  # the text before the string's opening quote
    clause = re.search(r"\b(?:oracle|else)\s*\{\s*(?:[^{}]*\b(?:then|else)\s+)?\[?\s*$", head)
    if clause is not None:
        return _answer_of_last_ask(a, head, None)
    assign = re.search(rf"({_NAME})\s*=\s*(?:.*\b(?:then|else)\s+)?\[?\s*$", line_before)
    if assign is None:
        return None
    name = assign.group(1)
    sym = a.index.visible(offset).get(name)
    if sym is not None and isinstance(sym.target().node, n.ParamDecl):
        node = sym.target().node
        assert isinstance(node, n.ParamDecl)
        return _param_type(a, node)
    return _answer_of_last_ask(a, before, name)


def _answer_of_last_ask(a: Analysis, before: str, name: str | None) -> Type | None:
    """The answer type (or its field ``name``) of the prompt the last ``ask`` names."""
    ask = list(re.finditer(r"\bask\s+(\w+)", before))
    if not ask or a.scope is None or ask[-1].group(1) not in a.scope.prompts:
        return None
    answer = a.scope.prompts[ask[-1].group(1)].answer
    if name is None:
        return answer
    return _field_type(answer, name) if isinstance(answer, RecordT) else answer


def _param_type(a: Analysis, node: n.ParamDecl) -> Type | None:
    if isinstance(node.type, n.EnumType):
        return EnumT(values=node.type.values)
    program = a.result.program
    if program is not None:
        return next((p.type for p in program.params if p.name == node.name), None)
    return None


def _labels(a: Analysis, labelset: str) -> list[str]:
    source = labelset
    if a.scope is not None and labelset in a.scope.labelsets:
        ls = a.scope.labelsets[labelset]
        if ls.source != "builtin":
            try:
                source = str(declared_path(ls.source, Path(a.path).parent))
            except LabelSetError:
                return []
    try:
        return list(load(source))[:_MAX_LABELS]
    except LabelSetError:
        return []


# ---- types of names ----


def _truth_type(a: Analysis) -> Type | None:
    for t in a.typed:
        if isinstance(t.node, n.Name) and t.node.name == "truth" and isinstance(t.type, RecordT):
            return t.type
    return None


def _name_type(a: Analysis, sym: Symbol) -> Type | None:
    own = symbol_type(a, sym.target().node)
    if own is not None:
        return own
    spans = {r.span.start for r in a.index.refs if r.symbol is sym}
    for t in a.typed:
        if isinstance(t.node, n.Name) and t.span.start in spans:
            return t.type
    return None


def _path_type(a: Analysis, offset: int, path: str) -> Type | None:
    names = path.split(".")
    if names[0] == "truth":
        t = _truth_type(a)
    else:
        sym = a.index.visible(offset).get(names[0])
        t = _name_type(a, sym) if sym is not None else None
    for name in names[1:]:
        t = _field_type(t, name)
    return t


def _strip(t: Type | None) -> Type | None:
    while isinstance(t, ListT | OptionalT):
        t = t.item
    return t


def _field_type(t: Type | None, name: str) -> Type | None:
    record = _strip(t)
    if isinstance(record, OpaqueT):
        return OPAQUE_FIELDS.get(record.name, {}).get(name)
    if not isinstance(record, RecordT):
        return None
    f = record.field(name)
    return f.type if f is not None else None


def _item(
    label: str,
    kind: lsp.CompletionItemKind,
    detail: str | None,
    doc: str | None = None,
    insert: str | None = None,
) -> lsp.CompletionItem:
    return lsp.CompletionItem(
        label=label,
        kind=kind,
        detail=detail,
        documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=doc) if doc else None,
        insert_text=insert,
    )
