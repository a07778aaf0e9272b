"""Which data columns a formula piece uses, and the error for unknown ones.

Plain column names are looked up directly; expressions such as ``log(x + 1)``
or ``C(f, Sum)`` are read with Python's ``ast`` so that every name that is
neither a function of the evaluation context nor a column is reported with
close matches before anything is evaluated.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from formulaic.transforms import TRANSFORMS

from tabmixr.design.formula_text import r_power_to_python
from tabmixr.errors import DesignError, UnknownColumnError

#: Functions available inside formula expressions on top of formulaic's own
#: transforms (``log``, ``exp``, ``poly``, ``C``, ``I``, ``center``, ...).
#: R users write these without a ``np.`` prefix.
EXTRA_FUNCTIONS: dict[str, Any] = {
    "sqrt": np.sqrt, "abs": np.abs, "log1p": np.log1p, "expm1": np.expm1,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
    "floor": np.floor, "ceiling": np.ceil, "round": np.round,
    "pi": np.pi, "inf": np.inf, "True": True, "False": False,
}

#: The evaluation context handed to formulaic and to ``evaluate_expression``.
FORMULA_CONTEXT: dict[str, Any] = {**TRANSFORMS, **EXTRA_FUNCTIONS}


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Column names that look like ``name`` (difflib, case-insensitive first)."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    found = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)]
    return found


def unknown_column_error(name: str, columns: Iterable[str], where: str) -> UnknownColumnError:
    """Build the error for a variable that is not a column of the data.

    Args:
        name: The missing variable.
        columns: The data's column names.
        where: Where the name was used, e.g. ``"fixed part '1 + Days'"``.

    Returns:
        An ``UnknownColumnError`` naming the column and its close matches.
    """
    matches = close_matches(name, columns)
    hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
    return UnknownColumnError(f"column {name!r} (used in {where}) is not in the data{hint}")


def expression_variables(expr: str, columns: Mapping[str, Any] | Iterable[str], where: str) -> list[str]:
    """Data columns used by a Python expression, in order of appearance.

    Args:
        expr: Expression text, e.g. ``"log(x + 1)"`` or ``"C(f, Treatment('b'))"``.
        columns: Column names of the data.
        where: Description of the formula piece, for error messages.

    Returns:
        Column names used by ``expr``.

    Raises:
        UnknownColumnError: A name is neither a column nor a known function.
        DesignError: The expression is not valid Python.
    """
    columns = set(columns)
    expr, quoted = unquote_names(expr)
    columns |= set(quoted)
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise DesignError(f"cannot read the expression {expr!r} in {where}: {exc.msg}") from None
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name):
            continue
        name = node.id
        if name in columns:
            if name not in found:
                found.append(name)
        elif name in FORMULA_CONTEXT:
            continue
        elif id(node) in called:
            raise DesignError(f"unknown function {name!r} in {expr!r} ({where}); "
                              f"known functions: {', '.join(sorted(k for k in FORMULA_CONTEXT if k[0].islower()))}")
        else:
            raise unknown_column_error(name, columns, where)
    # ast.walk is breadth-first: restore textual order
    positions = {name: _first_position(tree, name) for name in found}
    return [quoted.get(name, name) for name in sorted(found, key=positions.__getitem__)]


def unquote_names(expr: str) -> tuple[str, dict[str, str]]:
    """Replace backtick-quoted names (`` `my var` ``) by identifiers.

    Returns:
        ``(expression, {identifier: column name})``.
    """
    quoted: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        key = f"_tabmixr_q{len(quoted)}_"
        quoted[key] = match.group(1)
        return key

    return re.sub(r"`([^`]*)`", replace, expr), quoted


def _first_position(tree: ast.AST, name: str) -> tuple[int, int]:
    return min((node.lineno, node.col_offset) for node in ast.walk(tree)
               if isinstance(node, ast.Name) and node.id == name)


def require_columns(names: Iterable[str], columns: Iterable[str], where: str) -> None:
    """Raise ``UnknownColumnError`` for the first name not among ``columns``."""
    columns = list(columns)
    present = set(columns)
    for name in names:
        if name not in present:
            raise unknown_column_error(name, columns, where)


class ColumnNamespace(Mapping):
    """Read-only mapping from names to column arrays (for ``eval``), then functions."""

    def __init__(self, frame, aliases: dict[str, str] | None = None):
        self._frame = frame
        self._aliases = aliases or {}

    def __getitem__(self, key: str):
        key = self._aliases.get(key, key)
        if key in self._frame.columns:
            return self._frame[key].to_numpy()
        return FORMULA_CONTEXT[key]

    def __iter__(self):
        yield from self._frame.columns
        yield from FORMULA_CONTEXT

    def __len__(self) -> int:
        return len(self._frame.columns) + len(FORMULA_CONTEXT)


def evaluate_expression(expr: str, frame, where: str) -> np.ndarray:
    """Evaluate a Python expression over the columns of ``frame``.

    Used for the response (``log(y)``) and offsets (``offset(log(n))``).

    Args:
        expr: Expression text.
        frame: Data frame holding every column the expression uses.
        where: Description for error messages.

    Returns:
        The value as a NumPy array (or scalar broadcast by the caller).

    Raises:
        DesignError: Evaluation failed.
    """
    expr = expr.strip()
    if expr in frame.columns:
        return frame[expr].to_numpy()
    expr = r_power_to_python(expr)
    expression_variables(expr, frame.columns, where)
    expr, quoted = unquote_names(expr)
    try:
        value = eval(compile(expr, "<formula>", "eval"), {"__builtins__": {}},  # noqa: S307
                     ColumnNamespace(frame, quoted))
    except Exception as exc:  # noqa: BLE001 - user expression, re-raised with context
        raise DesignError(f"cannot evaluate {expr!r} in {where}: {type(exc).__name__}: {exc}") from None
    return np.asarray(value)
