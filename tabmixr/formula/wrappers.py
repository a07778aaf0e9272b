"""Covariance wrappers around random-effect bars, as data.

``ar1(1 | time)``, ``arma(1 | time, p = 1, q = 1)``, ``kin(1 | animal)``,
``gp(1 | site, coords = c(x, y), kernel = "matern32")`` and
``spde(1 | site, coords = c(x, y))`` give a term a structured covariance over
the levels of its grouping factor.  Each wrapper is one ``Wrapper`` record in
``WRAPPERS``: its covariance name and the keyword arguments it takes, with
their kind, default and whether they are required.  Adding a wrapper means
adding a row here (and a structure in ``tabmixr.covariance``).

Defaults (filled into ``RandomTerm.covariance_args``):

- ``arma``: ``p = 1``, ``q = 0`` (so a bare ``arma(1 | t)`` is an AR(1)).
- ``gp``: ``kernel = "matern32"``; ``coords`` is required.
- ``spde``: ``alpha = 2`` (Matern smoothness ``nu = alpha - d/2``); ``coords``
  is required.
- ``kin``: optional ``pedigree = <name>`` or ``matrix = <name>`` (not both),
  naming an object passed to the fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from tabmixr.errors import FormulaError
from tabmixr.formula.tokens import Token, render, split_at

#: Kernels accepted by ``gp(..., kernel = )``.
GP_KERNELS = ("rbf", "matern12", "matern32", "matern52")


@dataclass(frozen=True)
class WrapperArg:
    """One keyword argument of a wrapper.

    Attributes:
        name: Argument name as written in the formula.
        kind: Key of ``ARG_CHECKS``: ``"count"`` (integer >= 0), ``"names"``
            (tuple of column names), ``"name"`` (one object name) or
            ``"choice"`` (one of ``choices``).
        default: Value used when the argument is left out (None: no default).
        required: Whether the argument must be given.
        choices: Allowed values for ``"choice"``.
    """

    name: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Wrapper:
    """A covariance wrapper function usable around a bar.

    Attributes:
        covariance: Name in ``spec.COVARIANCE_STRUCTURES``.
        args: Its keyword arguments.
        example: A correct use, quoted in messages.
        exclusive: Groups of arguments of which at most one may be given.
    """

    covariance: str
    args: tuple[WrapperArg, ...]
    example: str
    exclusive: tuple[tuple[str, ...], ...] = ()


WRAPPERS: dict[str, Wrapper] = {
    "ar1": Wrapper("ar1", (), "ar1(1 | time)"),
    "arma": Wrapper("arma", (WrapperArg("p", "count", default=1),
                             WrapperArg("q", "count", default=0)),
                    "arma(1 | time, p = 1, q = 1)"),
    "kin": Wrapper("kin", (WrapperArg("pedigree", "name"), WrapperArg("matrix", "name")),
                   "kin(1 | animal, pedigree = ped)",
                   exclusive=(("pedigree", "matrix"),)),
    "gp": Wrapper("gp", (WrapperArg("coords", "names", required=True),
                         WrapperArg("kernel", "choice", default="matern32",
                                    choices=GP_KERNELS)),
                  'gp(1 | site, coords = c(x, y), kernel = "matern32")'),
    "spde": Wrapper("spde", (WrapperArg("coords", "names", required=True),
                             WrapperArg("alpha", "choice", default=2, choices=(1, 2)),
                             WrapperArg("nodes", "count")),
                    "spde(1 | site, coords = c(x, y))"),
}


def known_wrappers_text() -> str:
    """The known wrapper names for messages, e.g. ``"ar1(), arma(), ..."``."""
    return ", ".join(f"{name}()" for name in WRAPPERS)


def parse_value(tokens: list[Token], where: str) -> Any:
    """Read one argument value: number, string, ``TRUE``/``FALSE``, name or ``c(...)``.

    Args:
        tokens: Tokens of the value.
        where: Argument and term for messages, e.g. ``"p in 'arma(1 | t, p = x+1)'"``.

    Returns:
        ``int`` or ``float`` for numbers (``1L`` is an int), ``str`` for quoted
        strings and bare names, ``bool`` for ``TRUE``/``FALSE``, a tuple of
        ``str`` for ``c(x, y)``.

    Raises:
        FormulaError: For any other expression.
    """
    if len(tokens) == 2 and tokens[0].is_op("-") and tokens[1].kind == "number":
        return -_number(tokens[1].text)
    if len(tokens) == 1:
        return _scalar(tokens[0], where)
    if (len(tokens) >= 3 and tokens[0].text == "c" and tokens[1].text == "("
            and tokens[-1].text == ")"):
        items = split_at(tokens[2:-1], "comma")
        if all(len(item) == 1 and item[0].kind in ("name", "string") for item in items):
            return tuple(_scalar(item[0], where) for item in items)
    raise FormulaError(
        f"cannot read the value {render(tokens)!r} of {where}: use a number, a quoted "
        "string, a name or c(name, name, ...)")


def _scalar(tok: Token, where: str) -> Any:
    """Value of a single-token argument."""
    if tok.kind == "number":
        return _number(tok.text)
    if tok.kind == "string":
        return re.sub(r"\\(.)", r"\1", tok.text[1:-1])
    if tok.kind == "name":
        if tok.text in ("TRUE", "FALSE", "True", "False"):
            return tok.text in ("TRUE", "True")
        return tok.text.strip("`")
    raise FormulaError(f"cannot read the value {tok.text!r} of {where}")


def _number(text: str) -> int | float:
    """Python number of an R numeric literal (``1``, ``1L``, ``0.5``, ``1e3``)."""
    if text.endswith("L"):
        return int(float(text[:-1]))
    if any(ch in text for ch in ".eE"):
        return float(text)
    return int(text)


def _check_count(value: Any, arg: WrapperArg, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormulaError(f"{where} must be a whole number >= 0, got {value!r}")
    return value


def _check_names(value: Any, arg: WrapperArg, where: str) -> Any:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, tuple) or not value:
        raise FormulaError(f"{where} must name columns, e.g. c(x, y), got {value!r}")
    return value


def _check_name(value: Any, arg: WrapperArg, where: str) -> Any:
    if not isinstance(value, str) or not value:
        raise FormulaError(f"{where} must be a name, got {value!r}")
    return value


def _check_choice(value: Any, arg: WrapperArg, where: str) -> Any:
    if isinstance(value, bool) or value not in arg.choices:
        allowed = ", ".join(repr(choice) for choice in arg.choices)
        raise FormulaError(f"unknown value {value!r} for {where}; allowed: {allowed}")
    return value


#: How each argument kind is checked (and normalized).
ARG_CHECKS: dict[str, Callable[[Any, WrapperArg, str], Any]] = {
    "count": _check_count,
    "names": _check_names,
    "name": _check_name,
    "choice": _check_choice,
}


def resolve_args(name: str, arg_tokens: list[list[Token]], where: str) -> dict[str, Any]:
    """Parse and check a wrapper's keyword arguments, filling in defaults.

    Args:
        name: Wrapper name, a key of ``WRAPPERS``.
        arg_tokens: Token lists of the arguments after the bar (``p = 1``, ...).
        where: The term or setting being read, for messages.

    Returns:
        Argument name -> value, with defaults for the ones left out.

    Raises:
        FormulaError: For a positional, unknown, repeated or invalid argument,
            a missing required one, or two exclusive ones.
    """
    wrapper = WRAPPERS[name]
    allowed = {arg.name: arg for arg in wrapper.args}
    given: dict[str, Any] = {}
    for tokens in arg_tokens:
        key, value_tokens = _split_keyword(tokens, name, where)
        if key not in allowed:
            names = ", ".join(allowed) if allowed else "none"
            raise FormulaError(f"unknown argument {key!r} to {name}() in {where}; "
                               f"allowed arguments: {names}")
        if key in given:
            raise FormulaError(f"argument {key!r} given twice to {name}() in {where}")
        arg = allowed[key]
        value = parse_value(value_tokens, f"{key} in {where}")
        given[key] = ARG_CHECKS[arg.kind](value, arg, f"argument {key!r} of {name}() in {where}")
    for group in wrapper.exclusive:
        both = [key for key in group if key in given]
        if len(both) > 1:
            raise FormulaError(f"{name}() takes only one of {', '.join(group)}, got "
                               f"{' and '.join(both)} in {where}")
    for arg in wrapper.args:
        if arg.name in given:
            continue
        if arg.required:
            raise FormulaError(f"{name}() needs argument {arg.name!r} in {where}; "
                               f"e.g. {wrapper.example}")
        if arg.default is not None:
            given[arg.name] = arg.default
    return {arg.name: given[arg.name] for arg in wrapper.args if arg.name in given}


def _split_keyword(tokens: list[Token], name: str, where: str) -> tuple[str, list[Token]]:
    """Split ``key = value`` tokens; raise for positional or empty arguments."""
    if not tokens:
        raise FormulaError(f"empty argument to {name}() in {where}")
    if len(tokens) == 2 and tokens[0].kind == "name" and tokens[1].is_op("="):
        raise FormulaError(f"argument {tokens[0].text!r} of {name}() in {where} has no value")
    if len(tokens) < 3 or tokens[0].kind != "name" or not tokens[1].is_op("="):
        raise FormulaError(
            f"argument {render(tokens)!r} of {name}() in {where} must be named, "
            f"e.g. {WRAPPERS[name].example}")
    return tokens[0].text, tokens[2:]
