"""R's number and table formatting, so printed fits read like lme4's.

Small re-implementations of R's ``format()`` for doubles (``formatReal`` in
R's ``src/main/format.c``), ``zapsmall``, ``format.pval``, ``abbreviate``
(``stripchars`` in ``src/main/character.c``) and ``print.default`` of
character matrices and named vectors (80 columns, gap 1).  Only what the
lme4 print methods use; ``tests/results`` checks them against R's output.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

WIDTH = 80  # getOption("width")


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _sci_parts(x: float, digits: int) -> tuple[bool, int, int, bool]:
    """R's ``scientific()``: sign, decimal exponent, significant digits needed.

    Returns:
        ``(neg, kpower, nsig, rounding_widens)`` for ``x`` shown with at most
        ``digits`` significant digits.
    """
    if x == 0.0:
        return False, 0, 1, False
    neg = x < 0
    r = abs(x)
    kp = math.floor(math.log10(r)) - digits + 1
    r_prec = r / 10.0 ** kp if kp >= 0 else r * 10.0 ** (-kp)
    if r_prec < 10.0 ** (digits - 1):
        r_prec *= 10.0
        kp -= 1
    alpha = float(round(r_prec))
    nsig = digits
    for _ in range(digits):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = min(max(digits - kpower, 0), 22)
    fuzz = 0.5 / 10.0 ** rgt
    widens = 0 < kpower <= 22 and r < 10.0 ** kpower - fuzz
    return neg, kpower, nsig, widens


def format_real(values: Sequence[float], digits: int = 7, nsmall: int = 0,
                na: str = "NA") -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` for a double vector.

    All elements share one layout (fixed or scientific, one number of
    decimals) and are right-justified to a common width, as in R.

    Args:
        values: Numbers; ``None``/``nan`` print as ``na``.
        digits: Significant digits the element needing most must show.
        nsmall: Minimum number of decimals in fixed notation.
        na: Text for missing values.

    Returns:
        One string per value.
    """
    vals = [None if _is_missing(v) else float(v) + 0.0 for v in values]  # + 0.0 drops -0's sign
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    width, decimals, sci = 0, 0, False
    if finite:
        neg = rgt = mxsl = mxns = mxl = -10 ** 9
        mxe, mne = -10 ** 9, 10 ** 9
        neg = 0
        for v in finite:
            neg_i, kpower, nsig, widens = _sci_parts(v, digits)
            left = kpower + 1 - (1 if widens else 0)
            sleft = neg_i + (1 if left <= 0 else left)
            right = nsig - left
            neg = max(neg, int(neg_i))
            rgt, mxl, mxsl = max(rgt, right), max(mxl, left), max(mxsl, sleft)
            mxns, mxe, mne = max(mxns, nsig), max(mxe, kpower), min(mne, kpower)
        if mxl < 0:
            mxsl = 1 + neg
        rgt = max(rgt, 0)
        width_fixed = mxsl + rgt + (rgt != 0)
        exp_digits = 2 if (mxe >= 100 or mne <= -99) else 1
        mant = mxns - 1
        width_sci = neg + (mant > 0) + mant + 4 + exp_digits
        if width_fixed <= width_sci:
            rgt = max(rgt, nsmall)
            width, decimals = mxsl + rgt + (rgt != 0), rgt
        else:
            width, decimals, sci = width_sci, mant, True
    texts = []
    for v in vals:
        if v is None:
            texts.append(na)
        elif math.isinf(v):
            texts.append("Inf" if v > 0 else "-Inf")
        elif sci:
            texts.append(_sci_text(v, decimals))
        else:
            texts.append(f"{v:.{decimals}f}")
    width = max([width] + [len(t) for t in texts])
    return [t.rjust(width) for t in texts]


def _sci_text(v: float, decimals: int) -> str:
    """C's ``%.*e`` with R's two-digit minimum exponent."""
    text = f"{v:.{decimals}e}"
    mantissa, exponent = text.split("e")
    sign, power = exponent[0], exponent[1:].lstrip("0") or "0"
    return f"{mantissa}e{sign}{power.rjust(2, '0')}"


def format_number(value: float, digits: int = 7) -> str:
    """One number as R's ``cat``/``print`` shows it (``digits`` significant)."""
    return format_real([value], digits)[0].strip()


def r_round(values, decimals: int):
    """R's ``round(x, digits)`` on an array (round half to even on the binary value)."""
    return np.round(np.asarray(values, dtype=float), decimals)


def zapsmall(values, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round so that values tiny relative to the largest become 0.

    R 4.2: ``round(x, max(0, digits - log10(max|x|)))``, where ``round``
    takes the nearest integer of a fractional ``digits``.
    """
    x = np.asarray(values, dtype=float)
    ok = ~np.isnan(x)
    if not ok.any():
        return x
    mx = np.max(np.abs(x[ok]))
    decimals = max(0.0, digits - math.log10(mx)) if mx > 0 else digits
    return r_round(x, int(math.floor(decimals + 0.5)))


def format_pval(pvalues: Sequence[float], digits: int = 4, eps: float = 2.220446e-16,
                na: str = "NA") -> list[str]:
    """R's ``format.pval`` (``eps`` defaults to ``.Machine$double.eps``)."""
    pv = [None if _is_missing(p) else float(p) for p in pvalues]
    out: list[str] = [na] * len(pv)
    small = [i for i, p in enumerate(pv) if p is not None and p < eps]
    rest = [i for i, p in enumerate(pv) if p is not None and p >= eps]
    texts: list[str] = []
    if rest:
        expo = [math.floor(math.log10(pv[i])) if pv[i] > 0 else -50 for i in rest]
        fixp = [i for i, e in zip(rest, expo) if e >= -3 or pv[i] == 0]
        scip = [i for i, e in zip(rest, expo) if not (e >= -3 or pv[i] == 0)]
        for group in (fixp, scip):
            for i, t in zip(group, format_real([pv[i] for i in group], digits)):
                out[i] = t
        texts = [out[i] for i in rest]
    if small:
        d = max(1, digits - 2)
        if rest:
            nc = max(len(t) for t in texts)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        for i in small:
            out[i] = "<" + sep + format_real([eps], d)[0]
    return out


def _strip_chars(text: str, minlen: int) -> str:
    """R's C-level ``stripchars`` (abbreviate one string, ``use.classes = TRUE``)."""
    buf = list(text.lstrip())

    def length() -> int:
        return len(buf)

    def char(i: int) -> str:
        return buf[i] if 0 <= i < len(buf) else "\0"

    def first_char(i: int) -> bool:
        return char(i - 1).isspace()

    def last_char(i: int) -> bool:
        nxt = char(i + 1)
        return not char(i - 1).isspace() and (nxt == "\0" or nxt.isspace())

    def lc_vowel(i: int) -> bool:
        return char(i) in "aeiou" and char(i) != "\0"

    def is_lower(i: int) -> bool:
        c = char(i)
        return "a" <= c <= "z"

    if len(buf) < minlen:
        return _drop_spaces(buf, minlen)
    upper = len(buf) - 1
    nspace = 0
    trailing = True
    for i in range(upper, 0, -1):
        if buf[i].isspace() if i < len(buf) else False:
            if trailing:
                del buf[i:]
            else:
                nspace += 1
        else:
            trailing = False
        if length() - nspace <= minlen:
            return _drop_spaces(buf, minlen)
    passes = [lambda i: lc_vowel(i) and last_char(i),
              lambda i: lc_vowel(i) and not first_char(i),
              lambda i: is_lower(i) and last_char(i),
              lambda i: is_lower(i) and not first_char(i)]
    for remove in passes:
        for i in range(upper, 0, -1):
            if i < len(buf) and remove(i):
                del buf[i]
            if length() - nspace <= minlen:
                return _drop_spaces(buf, minlen)
    for i in range(len(buf) - 1, 0, -1):
        if i < len(buf) and not first_char(i) and not buf[i].isspace():
            del buf[i]
        if length() - nspace <= minlen:
            break
    return _drop_spaces(buf, minlen)


def _drop_spaces(buf: list[str], minlen: int) -> str:
    if len(buf) > minlen:
        buf = [buf[0]] + [c for c in buf[1:] if not c.isspace()]
    return "".join(buf)


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method ``"left.kept"``).

    Drops lower-case vowels, then lower-case letters, from the end, keeping
    the first letter of each word; duplicates are re-abbreviated with a
    longer ``minlength`` until all results are unique.
    """
    stripped = [n.strip(" ") for n in names]
    unique = list(dict.fromkeys(stripped))
    out = list(unique)
    redo = [True] * len(unique)
    minlen = minlength
    while True:
        for i, flag in enumerate(redo):
            if flag:
                out[i] = _strip_chars(unique[i], minlen)
        seen: set[str] = set()
        dup = []
        for s in out:
            dup.append(s in seen)
            seen.add(s)
        if not any(dup):
            break
        minlen += 1
        dup_values = {s for s, d in zip(out, dup) if d}
        redo = [d or s in dup_values for s, d in zip(out, dup)]
    lookup = dict(zip(unique, out))
    return [lookup[s] for s in stripped]


def print_named(names: Sequence[str], texts: Sequence[str]) -> list[str]:
    """Lines of R's print of a named vector whose values are already formatted.

    Every field is right-justified to the widest name or value and followed
    by one space; fields wrap to fit 80 columns.
    """
    w = max([len(n) for n in names] + [len(t) for t in texts])
    per_line = max(1, WIDTH // (w + 1))
    lines = []
    for start in range(0, len(names), per_line):
        chunk = slice(start, start + per_line)
        lines.append("".join(n.rjust(w) + " " for n in names[chunk]))
        lines.append("".join(t.rjust(w) + " " for t in texts[chunk]))
    return lines


def print_matrix(cells: Sequence[Sequence[str]], rownames: Sequence[str],
                 colnames: Sequence[str], right: bool = False) -> list[str]:
    """Lines of R's ``print(m, quote = FALSE, right = right)`` for a character matrix.

    Row names are left-justified; cells and column names are left-justified
    unless ``right``; columns wrap into blocks to fit 80 columns.
    """
    ncol = len(colnames)
    rlab = max([len(r) for r in rownames], default=0)
    widths = [max([len(colnames[j])] + [len(row[j]) for row in cells]) for j in range(ncol)]

    def just(text: str, w: int) -> str:
        return text.rjust(w) if right else text.ljust(w)

    blocks, start = [], 0
    while start < ncol or (ncol == 0 and not blocks):
        stop, used = start, rlab
        while stop < ncol and (stop == start or used + 1 + widths[stop] <= WIDTH):
            used += 1 + widths[stop]
            stop += 1
        blocks.append((start, stop))
        if stop == start:
            break
        start = stop
    lines = []
    for lo, hi in blocks:
        lines.append(" " * rlab + "".join(" " + just(colnames[j], widths[j]) for j in range(lo, hi)))
        for r, row in zip(rownames, cells):
            lines.append(r.ljust(rlab) + "".join(" " + just(row[j], widths[j]) for j in range(lo, hi)))
    return lines


_SPACED = {"~", "+", "-", "*", "|", "||", "==", "!=", "<", ">", "<=", ">=", "&", "&&", "=",
           "%in%"}
_TIGHT = {":", "/", "^", "$", "@"}


def _formula_tokens(text: str) -> list[str]:
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch.isalnum() or ch in "._`":
            j = i + 1
            if ch == "`":
                j = text.index("`", i + 1) + 1
            else:
                while j < len(text) and (text[j].isalnum() or text[j] in "._"):
                    j += 1
            tokens.append(text[i:j])
            i = j
        elif ch == "%":
            j = text.index("%", i + 1) + 1
            tokens.append(text[i:j])
            i = j
        elif text[i:i + 2] in ("||", "==", "!=", "<=", ">=", "&&"):
            tokens.append(text[i:i + 2])
            i += 2
        else:
            tokens.append(ch)
            i += 1
    return tokens


def deparse_formula(text: str) -> str:
    """Formula text spaced as R's ``deparse`` prints it.

    ``"y~x+(1|g)"`` -> ``"y ~ x + (1 | g)"``; ``:``, ``/``, ``^`` stay tight,
    commas get a following space, unary signs stay attached.  Text with
    quotes is only whitespace-collapsed.
    """
    if any(q in text for q in "\"'"):
        return " ".join(text.split())
    try:
        tokens = _formula_tokens(text)
    except ValueError:
        return " ".join(text.split())
    out, prev = "", None
    for tok in tokens:
        unary = tok in ("-", "+", "~") and (prev is None or prev in _SPACED or prev in _TIGHT
                                           or prev in ("(", ","))
        if tok in _SPACED and not unary:
            out = out.rstrip(" ") + f" {tok} "
        elif tok == ",":
            out = out.rstrip(" ") + ", "
        else:
            out += tok
        prev = tok
    return out.strip()
