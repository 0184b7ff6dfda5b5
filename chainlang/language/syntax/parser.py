"""Text → AST. One of the two modules that import lark (with ``builder``).

:func:`parse` turns a :class:`~chainlang.language.source.SourceFile` into a
:class:`~chainlang.language.syntax.nodes.Module`, reporting syntax errors as diagnostics
(E101–E105) instead of raising. Lark trees, tokens and exceptions never
leave this module and ``builder``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from chainlang.language import codes
from chainlang.language.diagnostics import Diagnostics
from chainlang.language.source import SourceFile, Span
from chainlang.language.syntax import nodes

#: Deepest lark tree accepted; deeper input gets E104 rather than a RecursionError.
MAX_DEPTH = 120

#: How terminals read in "expected ..." messages.
TERMINAL_NAMES: dict[str, str] = {
    "NAME": "a name",
    "STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COLON": "':'",
    "COMMA": "','",
    "EQUAL": "'='",
    "DOT": "'.'",
    "VBAR": "'|'",
    "ROLE": "a message role (system, user, assistant)",
    "DETAIL": "an image detail (high, low, auto)",
    "CMP_OP": "a comparison",
    "ADD_OP": "'+'",
    "MINUS": "'-'",
    "MUL_OP": "'*' (or '/', '%')",
    "OPTIONAL": "'?'",
    "VARIANT_FLAG": "'default' or 'reasoning'",
    "$END": "end of file",
}


def grammar_text() -> str:
    """The text of ``chain.lark``.

    The grammar lives at the repository's top level (``grammars/``, beside the editor
    grammars); the wheel's build rule places it at ``chainlang/grammars/chain.lark``. An
    installed wheel reads that copy; a source checkout (an editable install) reads the
    repository's file.
    """
    shipped = resources.files("chainlang").joinpath("grammars/chain.lark")
    if shipped.is_file():
        return shipped.read_text("utf-8")
    return (Path(__file__).resolve().parents[3] / "grammars" / "chain.lark").read_text("utf-8")


@cache
def _parser() -> Lark:
    # One parser per process; Lark objects are immutable after construction.
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def parse(src: SourceFile, diags: Diagnostics) -> nodes.Module | None:
    """Parse a source file into an AST.

    Args:
        src: The file to parse.
        diags: Syntax errors are added here.

    Returns:
        The module, or None when the text has syntax errors.
    """
    tree = _parse_tree(src, diags)
    if tree is None:
        return None
    if _too_deep(tree):
        diags.add(codes.nesting_too_deep(src.whole(), MAX_DEPTH))
        return None
    from chainlang.language.syntax.builder import (
        build,  # builder imports lark too; keep it local to parsing
    )

    return build(tree, src, diags)


def _parse_tree(src: SourceFile, diags: Diagnostics) -> Tree[Token] | None:
    try:
        return _parser().parse(src.text)
    except UnexpectedInput as exc:
        _report(exc, src, diags)
        return None


def _report(exc: UnexpectedInput, src: SourceFile, diags: Diagnostics) -> None:
    pos = getattr(exc, "pos_in_stream", None) or 0
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        span = src.span(len(src.text), len(src.text))
        diags.add(codes.unexpected_eof(span, _expected(exc.expected), *_left_open(exc, src)))
    elif isinstance(exc, UnexpectedToken):
        tok = exc.token
        start = tok.start_pos if tok.start_pos is not None else pos
        span = src.span(start, start + max(1, len(str(tok))))
        expected = _expected(exc.expected)
        diags.add(codes.unexpected_token(span, _shown(tok), expected, _hint(exc, src.text[:start])))
    elif isinstance(exc, UnexpectedCharacters):
        span = src.span(pos, pos + 1)
        ch = src.text[pos : pos + 1]
        diags.add(codes.unexpected_character(span, ch, _expected(exc.allowed or set())))
    elif isinstance(exc, UnexpectedEOF):
        span = src.span(len(src.text), len(src.text))
        diags.add(codes.unexpected_eof(span, _expected(exc.expected)))


_CLOSES = {"RBRACE": "LBRACE", "RSQB": "LSQB", "RPAR": "LPAR"}


def _left_open(exc: UnexpectedToken, src: SourceFile) -> tuple[Span, str, str] | tuple[()]:
    """The innermost bracket still open when the file ended: its span, character and context.

    The parser's value stack holds the tokens of every rule not yet reduced, so a
    bracket on it without its closing partner there is one the file never closed.
    """
    try:
        stack = exc.interactive_parser.parser_state.value_stack
    except AttributeError:
        return ()
    open_: list[Token] = []
    for value in stack:
        if not isinstance(value, Token):
            continue  # a reduced rule: its brackets are balanced
        if value.type in _CLOSES.values():
            open_.append(value)
        elif value.type in _CLOSES and open_ and open_[-1].type == _CLOSES[value.type]:
            open_.pop()
    start = open_[-1].start_pos if open_ else None
    if start is None:
        return ()
    tok = open_[-1]
    line_start = src.text.rfind("\n", 0, start) + 1
    context = " ".join(src.text[line_start : start + 1].split())
    if len(context) > 48:
        context = context[:40].rsplit(" ", 1)[0] + " ... " + str(tok)
    return src.span(start, start + 1), str(tok), context


def _hint(exc: UnexpectedToken, before: str) -> str | None:
    """A likely fix for the commonest slips, read from what the parser wanted."""
    if set(exc.expected) == {"UP"} and exc.token.type == "UNTIL":
        # `repeat with {...} until ...`: every loop needs a bound.
        return "a `repeat` needs a bound: add `up to N` before `until` (e.g. `up to 10`)"
    if set(exc.expected) == {"EQUAL"} and exc.token.type in {"RPAR", "COMMA"}:
        # `ask p(image)`: prompt arguments are passed by name.
        name = re.search(r"(\w+)\s*$", before)
        arg = name.group(1) if name else "name"
        return f"arguments are passed by name: write `{arg} = ...` (the prompt's parameter name)"
    return None


def _shown(tok: Token) -> str:
    text = str(tok)
    if tok.type in {"NAME", "STRING", "INT", "FLOAT"}:
        return f"{TERMINAL_NAMES[tok.type].split(' ', 1)[1]} {text[:40]!r}"
    return repr(text[:40])


def _expected(names: Iterable[str]) -> str:
    shown = sorted({_terminal(n) for n in names})
    if not shown:
        return "something else"
    if len(shown) > 8:
        return ", ".join(shown[:8]) + ", ..."
    return " or ".join(shown) if len(shown) <= 2 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _terminal(name: str) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    # Keyword terminals are plain strings: show them quoted.
    return f"'{pattern.value}'" if pattern.type == "str" else name.lower()


def _too_deep(tree: Tree[Token]) -> bool:
    # Iterative walk: the builder and checker recurse, so depth is bounded here first.
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return False
