"""User-defined calculations: formulas over an asset's sensors, checked once and evaluated
vectorised over a batch.

A formula is an arithmetic expression in Python's syntax over the asset's sensor names, the
names of calculations defined before it, the asset's parameters (constants such as
``efficiency``), numbers, ``+ - * / ** %``, and these functions:

    abs sqrt exp log log10 sin cos min max clip(x, lo, hi) where(cond, a, b) integrate(x)

``integrate(x)`` is the running time integral of ``x`` per **second** (left rectangles, as the
built-in drivetrain accumulates destruction): ``integrate(power_kw) / 3600`` is energy in kWh.
Its running value continues across batches and runs (see :class:`app.calculations.Carry`).

Why a parser of our own over the standard library's ``ast`` rather than numexpr or asteval:
the text is parsed into a tree and walked with an allowlist of node types, so nothing is ever
executed as Python (no ``eval`` of user text); the same walk checks the names against the asset's
sensors and finds a division by a constant zero before anything is stored; and ``integrate``
needs a running state across batches that neither library carries.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, seconds_since_previous

MAX_LENGTH = 500
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_BINARY: dict[type[ast.operator], Callable[[object, object], object]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[object], object]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}
_COMPARE: dict[type[ast.cmpop], Callable[[object, object], object]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
#: name -> (numpy function, how many arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., object], int]] = {
    "abs": (np.abs, 1), "sqrt": (np.sqrt, 1), "exp": (np.exp, 1), "log": (np.log, 1),
    "log10": (np.log10, 1), "sin": (np.sin, 1), "cos": (np.cos, 1),
    "min": (np.minimum, 2), "max": (np.maximum, 2), "clip": (np.clip, 3),
    "where": (np.where, 3),
}
INTEGRATE = "integrate"
RESERVED = frozenset(_FUNCTIONS) | {INTEGRATE}


class FormulaError(ValueError):
    """A formula that cannot be used; ``str()`` says what is wrong in words."""


@dataclass(frozen=True)
class Formula:
    """A checked user calculation: its name, unit, text, the names it reads, and its tree."""

    name: str
    unit: str
    text: str
    reads: tuple[str, ...]
    tree: ast.Expression
    integrals: int

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "unit": self.unit, "formula": self.text}


def _constant(node: ast.AST) -> float | None:
    """The value of a sub-expression made only of numbers, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        inner = _constant(node.operand)
        return None if inner is None else float(_UNARY[type(node.op)](inner))  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _constant(node.left), _constant(node.right)
        if left is None or right is None:
            return None
        try:
            return float(_BINARY[type(node.op)](left, right))  # type: ignore[arg-type]
        except (ZeroDivisionError, OverflowError):
            return math.nan
    return None


def _check(node: ast.AST, known: set[str], reads: list[str]) -> int:
    """Walk the tree with an allowlist; returns how many ``integrate`` calls it holds."""
    if isinstance(node, ast.Expression):
        return _check(node.body, known, reads)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(f"{node.value!r} is not a number")
        return 0
    if isinstance(node, ast.Name):
        if node.id in RESERVED:
            raise FormulaError(f"{node.id} is a function: write {node.id}(...)")
        if node.id not in known:
            raise FormulaError(f"unknown name {node.id!r}: the asset has no sensor or earlier "
                               f"calculation of that name (known: {', '.join(sorted(known)) or 'none'})")
        reads.append(node.id)
        return 0
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(node.operand, known, reads)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        if isinstance(node.op, ast.Div | ast.Mod):
            divisor = _constant(node.right)
            if divisor is not None and (divisor == 0 or math.isnan(divisor)):
                raise FormulaError("it divides by a constant zero")
        return _check(node.left, known, reads) + _check(node.right, known, reads)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return _check(node.left, known, reads) + _check(node.comparators[0], known, reads)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name = node.func.id
        wanted = 1 if name == INTEGRATE else _FUNCTIONS.get(name, (None, -1))[1]
        if wanted < 0:
            raise FormulaError(f"unknown function {name!r} (known: "
                               f"{', '.join(sorted(RESERVED))})")
        if len(node.args) != wanted:
            raise FormulaError(f"{name}() takes {wanted} argument{'s' if wanted != 1 else ''}")
        inner = sum(_check(arg, known, reads) for arg in node.args)
        if name == INTEGRATE and inner:
            raise FormulaError("integrate() cannot hold another integrate()")
        return inner + (name == INTEGRATE)
    raise FormulaError(f"{type(node).__name__.lower()} is not allowed: use numbers, names, "
                       "+ - * / ** %, comparisons inside where(), and the listed functions")


def parse(name: str, unit: str, text: str, known: Sequence[str],
          constants: Sequence[str] = ()) -> Formula:
    """Check a formula against the names it may read (``known`` series and ``constants``, the
    asset's parameters); raise :class:`FormulaError` if unusable."""
    text = (text or "").strip()
    if not NAME.match(name or ""):
        raise FormulaError(f"the name {name!r} must start with a letter and hold only lower-case "
                           "letters, digits and _ (at most 64)")
    if name in RESERVED:
        raise FormulaError(f"{name!r} is the name of a function")
    if not text:
        raise FormulaError("the formula is empty")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"it cannot be read at character {exc.offset or 0}: {exc.msg}") from None
    reads: list[str] = []
    integrals = _check(tree, set(known) | set(constants), reads)
    if not set(reads) - set(constants):
        raise FormulaError("it reads no sensor: a constant is a parameter, not a calculation")
    return Formula(name, unit or "", text, tuple(dict.fromkeys(reads)), tree, integrals)


def parse_all(entries: Sequence[Mapping[str, str]], sensors: Sequence[str],
              built_in: Sequence[str] = (), parameters: Sequence[str] = ()) -> list[Formula]:
    """Check an asset's formulas in order: each may read the sensors, the type's own
    calculations, the formulas before it and the asset's parameters. Errors name the formula."""
    known = list(sensors) + list(built_in)
    out: list[Formula] = []
    for number, entry in enumerate(entries, start=1):
        name = str(entry.get("name") or "")
        label = f"calculation {name or number}"
        if name in known or name in parameters:
            raise FormulaError(f"{label}: the name is already a sensor, calculation or parameter "
                               "of the asset")
        try:
            formula = parse(name, str(entry.get("unit") or ""), str(entry.get("formula") or ""),
                            known, [p for p in parameters if p not in known])
        except FormulaError as exc:
            raise FormulaError(f"{label}: {exc}") from None
        out.append(formula)
        known.append(name)
    return out


def names_in(text: str) -> set[str]:
    """The names a formula's text reads (empty when it does not parse)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _carry_key(formula: Formula, number: int) -> str:
    """The carry key of a formula's ``number``-th integral: the formula's own name when the
    formula is the integral itself (its stored value is the running total), otherwise a hidden
    state stored beside it (see :func:`evaluate`)."""
    whole = isinstance(formula.tree.body, ast.Call) and getattr(formula.tree.body.func, "id", "") == INTEGRATE
    return formula.name if whole else f"{formula.name}__integral{number}"


def evaluate(formulas: Sequence[Formula], wide: pd.DataFrame, carry: Carry,
             columns: pd.DataFrame | None = None,
             parameters: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Each formula's values at each time of ``wide`` (a column per sensor, UTC index), in
    order; ``columns`` holds the type's own calculations, which formulas may read. Hidden
    integral states (``<name>__integral<k>``) are returned as columns too, so the next batch
    continues from them; :func:`visible` drops them for display."""
    frame = pd.DataFrame(index=wide.index)
    if wide.empty:
        return frame
    scope: dict[str, Any] = {name: float(value) for name, value in (parameters or {}).items()
                             if isinstance(value, int | float) and not isinstance(value, bool)}
    scope.update({name: wide[name].to_numpy(dtype=float) for name in wide.columns})
    if columns is not None:
        scope.update({name: columns[name].to_numpy(dtype=float) for name in columns.columns})
    dt = seconds_since_previous(pd.DatetimeIndex(wide.index), carry.last_ts)
    size = len(wide.index)

    for formula in formulas:
        integral = 0

        def walk(node: ast.AST, formula: Formula = formula) -> object:
            nonlocal integral
            if isinstance(node, ast.Expression):
                return walk(node.body)
            if isinstance(node, ast.Constant):
                return float(node.value)
            if isinstance(node, ast.Name):
                return scope[node.id]
            if isinstance(node, ast.UnaryOp):
                return _UNARY[type(node.op)](walk(node.operand))
            if isinstance(node, ast.BinOp):
                return _BINARY[type(node.op)](walk(node.left), walk(node.right))
            if isinstance(node, ast.Compare):
                return _COMPARE[type(node.ops[0])](walk(node.left), walk(node.comparators[0]))
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            args = [walk(arg) for arg in node.args]
            if node.func.id == INTEGRATE:
                integral += 1
                key = _carry_key(formula, integral)
                rate = np.broadcast_to(np.asarray(args[0], dtype=float), (size,))
                total = carry.totals.get(key, 0.0) + np.cumsum(np.nan_to_num(rate) * dt)
                if key != formula.name:
                    frame[key] = total
                return total
            function, _ = _FUNCTIONS[node.func.id]
            return function(*args)

        with np.errstate(all="ignore"):  # a zero flow gives inf or NaN, dropped as non-finite
            values = np.broadcast_to(np.asarray(walk(formula.tree), dtype=float), (size,))
        frame[formula.name] = values
        scope[formula.name] = np.asarray(values)
    return frame


def hidden(name: str) -> bool:
    """Whether a calculation name is a formula's hidden integral state, not a quantity."""
    return "__integral" in name


def visible(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not hidden(str(c))]]
