"""Small text helpers: top-level splitting and the names users wrote.

formulaic normalizes Python expressions (``I(x^2)`` becomes ``I(x ^ 2)``);
R-style column names keep the text as the user wrote it, so we map each
normalized factor expression back to its original spelling.
"""

from __future__ import annotations

from functools import lru_cache

from formulaic import Formula

_OPEN = "([{"
_CLOSE = ")]}"
_OPERATORS = "+-*/:^~|"


def split_top_level(text: str, separators: str) -> list[str]:
    """Split ``text`` at characters of ``separators`` outside brackets and quotes.

    Args:
        text: Formula or argument text.
        separators: Characters to split at (``","`` or the formula operators).

    Returns:
        The stripped pieces, empty ones removed.
    """
    pieces: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for i, ch in enumerate(text):
        if quote is not None:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0 and ch in separators:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def call_arguments(text: str, function: str) -> list[str] | None:
    """Arguments of ``function(...)`` when ``text`` is exactly such a call, else ``None``."""
    text = text.strip()
    head = function + "("
    if not (text.startswith(head) and text.endswith(")")):
        return None
    inner = text[len(head):-1]
    # the closing parenthesis must close the opening one
    depth = 0
    for ch in inner:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return None
    return split_top_level(inner, ",")


def r_power_to_python(expr: str) -> str:
    """Read R's power operator: ``x^2`` becomes ``x**2`` (outside string literals).

    In a model formula ``^`` inside ``I()`` or ``log()`` means a power, as in R;
    Python's bitwise xor has no use there.
    """
    if "^" not in expr:
        return expr
    out = []
    quote: str | None = None
    for ch in expr:
        if quote is not None:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "^":
            out.append("**")
            continue
        out.append(ch)
    return "".join(out)


@lru_cache(maxsize=512)
def original_spellings(formula: str) -> dict[str, str]:
    """Map formulaic's normalized factor expressions to the text as written.

    Only operands that are calls (``log(x+1)``, ``I(x^2)``, ``poly(x,2)``) are
    mapped; plain names need no mapping.

    Args:
        formula: Right-hand side text, e.g. ``"1 + I(x^2) + log(z+1):f"``.

    Returns:
        ``{normalized_expr: original_text}``.
    """
    spellings: dict[str, str] = {}
    for operand in split_top_level(formula, _OPERATORS):
        if operand.startswith("(") and operand.endswith(")"):
            spellings.update(original_spellings(operand[1:-1]))
            continue
        if "(" not in operand:
            continue
        try:
            terms = list(Formula(operand))
        except Exception:  # noqa: BLE001 - not a standalone factor; keep formulaic's text
            continue
        factors = [f for t in terms for f in t.factors if f.expr != "1"]
        if len(factors) == 1:
            spellings[factors[0].expr] = operand
    return spellings
