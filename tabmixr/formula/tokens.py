"""A small tokenizer and token-list helpers for model formulas.

The scanner knows just enough of R/formulaic syntax to find the structure
lme4 cares about: names, numbers, quoted strings, operators, commas and
brackets.  Every token remembers where it sits in the source text, so the
parser can hand the user's own text of a term on to formulaic, and error
messages can quote the piece at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tabmixr.errors import FormulaError

#: Operators, longest first so that ``||`` wins over ``|`` and ``**`` over ``*``.
OPERATORS = ("||", "**", "==", "!=", "<=", ">=", "&&",
             "~", "+", "-", "*", "/", ":", "^", "|", "=", "<", ">", "!", "&", "$", "@")

#: Operators printed without surrounding spaces (R's deparse style).
TIGHT_OPERATORS = frozenset({":", "^", "/", "$", "@"})

#: Operators that may also be unary (a sign or a negation).
UNARY_OPERATORS = frozenset({"+", "-", "!"})

#: Opening bracket -> closing bracket.
BRACKETS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {close: open_ for open_, close in BRACKETS.items()}

BAR_OPERATORS = frozenset({"|", "||"})

_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?")
_PERCENT_OP = re.compile(r"%[^%\s]*%")


@dataclass(frozen=True)
class Token:
    """One lexical unit of a formula.

    Attributes:
        kind: ``"name"``, ``"number"``, ``"string"``, ``"op"``, ``"open"``,
            ``"close"`` or ``"comma"``.
        text: The characters of the token as written.
        start: Offset of the first character in the source text.
        end: Offset one past the last character.
    """

    kind: str
    text: str
    start: int
    end: int

    def is_op(self, *texts: str) -> bool:
        """Whether this is an operator token (one of ``texts``, if given)."""
        return self.kind == "op" and (not texts or self.text in texts)

    @property
    def is_bar(self) -> bool:
        """Whether this token is ``|`` or ``||``."""
        return self.kind == "op" and self.text in BAR_OPERATORS


def tokenize(source: str) -> list[Token]:
    """Split formula text into tokens and check that brackets balance.

    Args:
        source: The formula text.

    Returns:
        The tokens in order; whitespace is dropped.

    Raises:
        FormulaError: On an unterminated string, a character that cannot
            start a token, or unbalanced brackets.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char.isspace():
            pos += 1
            continue
        end = _token_end(source, pos)
        tokens.append(Token(_kind_of(source[pos:end]), source[pos:end], pos, end))
        pos = end
    check_brackets(source, tokens)
    return tokens


def _token_end(source: str, pos: int) -> int:
    """Offset one past the token starting at ``pos``."""
    char = source[pos]
    if char in "'\"`":
        return _quoted_end(source, pos)
    for pattern in (_NUMBER, _NAME, _PERCENT_OP):
        match = pattern.match(source, pos)
        if match:
            return match.end()
    if char in BRACKETS or char in CLOSERS or char == ",":
        return pos + 1
    for op in OPERATORS:
        if source.startswith(op, pos):
            return pos + len(op)
    raise FormulaError(
        f"unexpected character {char!r} at position {pos + 1} of formula {source!r}")


def _quoted_end(source: str, pos: int) -> int:
    """End of a quoted string or backtick name starting at ``pos``."""
    quote = source[pos]
    i = pos + 1
    while i < len(source):
        if source[i] == "\\" and quote != "`":
            i += 2
            continue
        if source[i] == quote:
            return i + 1
        i += 1
    what = "backtick name" if quote == "`" else "string"
    raise FormulaError(
        f"unterminated {what} {source[pos:]!r} in formula {source!r}: "
        f"close it with {quote}")


def _kind_of(text: str) -> str:
    """Token kind of a token's text."""
    first = text[0]
    if first in "'\"":
        return "string"
    if first == "`" or _NAME.fullmatch(text):
        return "name"
    if _NUMBER.fullmatch(text):
        return "number"
    if first in BRACKETS:
        return "open"
    if first in CLOSERS:
        return "close"
    if first == ",":
        return "comma"
    return "op"


def check_brackets(source: str, tokens: list[Token]) -> None:
    """Raise unless every bracket is closed by the matching kind, in order.

    Args:
        source: The formula text (quoted in messages).
        tokens: Its tokens.

    Raises:
        FormulaError: Naming the unmatched bracket and the text it starts or ends.
    """
    stack: list[Token] = []
    for tok in tokens:
        if tok.kind == "open":
            stack.append(tok)
        elif tok.kind == "close":
            if not stack:
                raise FormulaError(
                    f"unbalanced parentheses: {tok.text!r} at position {tok.start + 1} "
                    f"closes nothing in {source[:tok.end]!r} (formula {source!r})")
            opener = stack.pop()
            if BRACKETS[opener.text] != tok.text:
                raise FormulaError(
                    f"unbalanced parentheses: {opener.text!r} at position {opener.start + 1} "
                    f"is closed by {tok.text!r} in {source[opener.start:tok.end]!r}")
    if stack:
        opener = stack[-1]
        raise FormulaError(
            f"unbalanced parentheses: {opener.text!r} at position {opener.start + 1} is "
            f"never closed in {source[opener.start:].strip()!r} (formula {source!r})")


def matching_close(tokens: list[Token], index: int) -> int:
    """Index of the bracket closing the one at ``tokens[index]``.

    Args:
        tokens: A bracket-balanced token list.
        index: Position of an ``open`` token.

    Returns:
        Position of its closing token.
    """
    depth = 0
    for i in range(index, len(tokens)):
        if tokens[i].kind == "open":
            depth += 1
        elif tokens[i].kind == "close":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("tokens are not bracket-balanced")  # pragma: no cover


def top_level(tokens: list[Token]) -> list[int]:
    """Indices of the tokens at bracket depth zero."""
    out: list[int] = []
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.kind == "close":
            depth -= 1
        elif depth == 0:
            out.append(i)
        if tok.kind == "open":
            depth += 1
    return out


def is_wrapped(tokens: list[Token]) -> bool:
    """Whether the whole list is one parenthesized group ``( ... )``."""
    return (len(tokens) >= 2 and tokens[0].text == "("
            and matching_close(tokens, 0) == len(tokens) - 1)


def strip_parens(tokens: list[Token]) -> list[Token]:
    """Drop redundant outer parentheses: ``((x))`` -> ``x``."""
    while is_wrapped(tokens):
        tokens = tokens[1:-1]
    return tokens


def is_call(tokens: list[Token]) -> bool:
    """Whether the whole list is a function call ``name( ... )``."""
    return (len(tokens) >= 3 and tokens[0].kind == "name" and tokens[1].text == "("
            and matching_close(tokens, 1) == len(tokens) - 1)


def split_at(tokens: list[Token], kind: str, text: str | None = None) -> list[list[Token]]:
    """Split a token list at its depth-zero tokens of one kind (and text).

    Args:
        tokens: A bracket-balanced token list.
        kind: Token kind to split at, e.g. ``"comma"`` or ``"op"``.
        text: If given, only tokens with this text split.

    Returns:
        The pieces between the separators (possibly empty lists).
    """
    pieces: list[list[Token]] = [[]]
    levels = set(top_level(tokens))
    for i, tok in enumerate(tokens):
        if i in levels and tok.kind == kind and (text is None or tok.text == text):
            pieces.append([])
        else:
            pieces[-1].append(tok)
    return pieces


def source_text(source: str, tokens: list[Token]) -> str:
    """The user's own text spanned by ``tokens`` (empty for no tokens)."""
    if not tokens:
        return ""
    return source[tokens[0].start:tokens[-1].end]


def render(tokens: list[Token]) -> str:
    """Print tokens with normalized spacing, R deparse style.

    ``(Days|Subject)`` prints as ``(Days | Subject)``, ``c(x,y)`` as
    ``c(x, y)``, ``a : b`` as ``a:b``, ``- 1`` at the start as ``-1``.

    Args:
        tokens: Tokens to print.

    Returns:
        The text.
    """
    parts: list[str] = []
    prev: Token | None = None
    prev_unary = False
    for tok in tokens:
        unary = tok.text in UNARY_OPERATORS and tok.kind == "op" and (
            prev is None or prev.kind in ("open", "comma", "op"))
        if prev is not None:
            parts.append(_space_between(prev, prev_unary, tok))
        parts.append(tok.text)
        prev, prev_unary = tok, unary
    return "".join(parts)


def _space_between(prev: Token, prev_unary: bool, tok: Token) -> str:
    """Separator printed between two adjacent tokens."""
    if prev.kind == "open" or tok.kind in ("close", "comma"):
        return ""
    if prev.kind == "comma":
        return " "
    if tok.text in TIGHT_OPERATORS or prev.text in TIGHT_OPERATORS:
        return ""
    if prev.kind == "op" and prev_unary:
        return ""
    if tok.kind == "open" and prev.kind in ("name", "close"):
        return ""
    return " "
