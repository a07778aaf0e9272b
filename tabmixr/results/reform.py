"""``re_form`` for ``predict``: which random-effect columns to include.

lme4's ``re.form``: ``None`` means every term, ``NA`` / ``~0`` means none
(population level), and a formula of bars such as ``~(1|Subject)`` keeps
the effects of the named grouping factors, restricted to the columns the
bar's left side names (so ``~(1|Subject)`` on ``(Days|Subject)`` keeps only
the intercept, as in lme4).
"""

from __future__ import annotations

import math

import numpy as np

from tabmixr.results.errors import ArgumentError

NO_RANDOM = {"na", "~0", "0", "~-1", "-1", "~ 0"}


def _top_level_split(text: str, seps: str) -> list[tuple[str, str]]:
    """Split at separator characters outside parentheses; keep each part's sign."""
    parts, depth, start, sign = [], 0, 0, "+"
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch in seps:
            parts.append((sign, text[start:i]))
            sign, start = ch, i + 1
    parts.append((sign, text[start:]))
    return [(s, p.strip()) for s, p in parts if p.strip()]


def _bars(text: str) -> list[tuple[str, str]]:
    """``(lhs | group)`` pairs of a formula's random part (``||`` counts as ``|``)."""
    bars = []
    for _, part in _top_level_split(text, "+"):
        if not (part.startswith("(") and part.endswith(")")):
            raise ArgumentError(f"re_form term {part!r} is not a random-effect bar like "
                                "'(1 | group)'")
        inner = part[1:-1]
        depth, at = 0, -1
        for i, ch in enumerate(inner):
            depth += ch == "("
            depth -= ch == ")"
            if ch == "|" and depth == 0:
                at = i
                break
        if at < 0:
            raise ArgumentError(f"re_form term {part!r} has no '|'")
        lhs = inner[:at]
        rhs = inner[at + 1:].lstrip("|")
        bars.append((lhs.strip(), rhs.strip()))
    return bars


def _group_sets(rhs: str) -> list[frozenset[str]]:
    """Grouping factors of a bar's right side; ``a/b`` gives ``a`` and ``a:b``."""
    factors = [f.strip() for f in rhs.split("/")]
    return [frozenset(":".join(factors[:k + 1]).split(":")) for k in range(len(factors))]


def _lhs_columns(lhs: str) -> tuple[bool, list[str]]:
    """Whether the left side keeps the intercept, and the other names it lists."""
    intercept, names = True, []
    for sign, token in _top_level_split(lhs, "+-"):
        token = token.replace(" ", "")
        if token in ("0", "1"):
            intercept = (token == "1") == (sign == "+")
        elif sign == "+":
            names.append(token)
    return intercept, names


def _column_mask(columns, intercept: bool, names: list[str]) -> np.ndarray:
    squashed = [c.replace(" ", "") for c in columns]
    mask = np.array([c == "(Intercept)" and intercept for c in columns], dtype=bool)
    for name in names:
        exact = np.array([c == name for c in squashed])
        mask |= exact if exact.any() else np.array([c.startswith(name) for c in squashed])
    return mask


def is_population_form(re_form) -> bool:
    """Whether ``re_form`` asks for no random effects (``NA``, ``"~0"``...)."""
    if re_form is None:
        return False
    if isinstance(re_form, float) and math.isnan(re_form):
        return True
    return isinstance(re_form, str) and re_form.strip().lower().replace(" ", "") in NO_RANDOM


def select_columns(re_form, terms) -> list[np.ndarray | None]:
    """Column masks of the random-effect terms that ``re_form`` keeps.

    Args:
        re_form: ``None`` (all), ``NA``-like (none) or a formula string.
        terms: The fit's ``RandomTermFit`` list.

    Returns:
        Per term, a boolean mask over its columns, or ``None`` when the
        term is dropped entirely.

    Raises:
        ArgumentError: a bar names a grouping factor the model lacks, or
            selects no column of it.
    """
    if re_form is None:
        return [np.ones(len(t.columns), dtype=bool) for t in terms]
    if is_population_form(re_form):
        return [None] * len(terms)
    if not isinstance(re_form, str):
        raise ArgumentError(f"re_form must be None, 'NA', '~0' or a formula string, "
                            f"got {re_form!r}")
    text = re_form.strip()
    text = text[1:] if text.startswith("~") else text
    masks: list[np.ndarray | None] = [None] * len(terms)
    term_sets = [frozenset(t.group.split(":")) for t in terms]
    for lhs, rhs in _bars(text):
        intercept, names = _lhs_columns(lhs)
        for group in _group_sets(rhs):
            hits = [i for i, s in enumerate(term_sets) if s == group]
            if not hits:
                known = ", ".join(dict.fromkeys(t.group for t in terms))
                raise ArgumentError(f"re_form names grouping factor {':'.join(sorted(group))!r} "
                                    f"that is not in the model (groups: {known})")
            chosen = False
            for i in hits:
                mask = _column_mask(terms[i].columns, intercept, names)
                if mask.any():
                    masks[i] = mask if masks[i] is None else (masks[i] | mask)
                    chosen = True
            if not chosen:
                raise ArgumentError(f"re_form term ({lhs} | {rhs}) selects no random-effect "
                                    "column of the model")
    return masks
