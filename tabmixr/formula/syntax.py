"""Syntax check of formula text that is handed on to formulaic."""

from __future__ import annotations

from formulaic.parser import DefaultFormulaParser

from tabmixr.errors import FormulaError

_PARSER = DefaultFormulaParser()


def check_formulaic_syntax(text: str, what: str) -> None:
    """Raise unless formulaic can parse ``text`` (no data needed).

    Only the syntax is checked: names are not resolved, so ``.`` and columns
    that do not exist yet pass.

    Args:
        text: Right-hand-side formula text, e.g. ``"1 + Days"``.
        what: What the text is, for the message, e.g. ``"the fixed part"``.

    Raises:
        FormulaError: Quoting ``text`` and formulaic's reason.
    """
    try:
        _PARSER.get_ast(text)
    except Exception as exc:  # formulaic raises several parsing error types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormulaError(f"{what} {text!r} is not a valid formula: {reason}") from exc
