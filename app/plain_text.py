"""Plain text: what a database column can hold exactly as it was typed, and how numbers, names
and codes read for people (the second half of the module).

PostgreSQL refuses NUL in text, and no database encoding holds a lone surrogate (which JSON's
``"\\ud800"`` decodes to); other control characters are no part of a name, email or reason.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def is_plain_text(text: str) -> bool:
    """Whether ``text`` can be stored as it is: no control characters, no lone surrogates."""
    return not (_CONTROL.search(text) or _SURROGATE.search(text))


def shown(text: str) -> str:
    """``text`` with whatever :func:`is_plain_text` refuses replaced by U+FFFD: fit for a log or
    an audit row that records what someone sent."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("\ufffd", text))


# -- Words and numbers for people -------------------------------------------------------------
# One place for how a value, a name and a code read in the portal, in alert messages and emails:
# never scientific notation, never a raw code, never a unit said twice.

#: Units that read better left out ("level below 0.2", not "below 0.2 fraction").
UNITLESS = ("", "1", "fraction")

#: Units that take an SI prefix, smallest first, with their size in the smallest one. A value is
#: shown in the unit it came in unless that needs a leading "0." (4.04e-04 kW: "0.404 W") or six
#: digits or more (250,000 kWh: "250 MWh").
PREFIXED = (
    (("W", 1.0), ("kW", 1e3), ("MW", 1e6), ("GW", 1e9)),
    (("Wh", 1.0), ("kWh", 1e3), ("MWh", 1e6), ("GWh", 1e9)),
    (("J", 1.0), ("kJ", 1e3), ("MJ", 1e6), ("GJ", 1e9)),
    (("Pa", 1.0), ("kPa", 1e3), ("MPa", 1e6)),
)
TOO_LONG = 100_000

#: Anomaly classifications (``app.anomalies.CLASSIFICATIONS``) in words.
CLASSIFICATION_WORDS = {
    "leakage": "leak",
    "sensor_error": "sensor fault",
    "overuse": "overuse",
    "other": "other cause",
}


def number(value: float | int | Decimal, figures: int = 3) -> str:
    """A value as people write it: ``figures`` significant figures (whole numbers from 100 up),
    thousands separated, no trailing zeros, never an exponent: 0.000404 -> ``0.000404``,
    12345.678 -> ``12,346``, 4.5 -> ``4.5``."""
    value = float(value)
    if not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = min(max(0, figures - 1 - magnitude), 9)
    text = f"{value:,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def _scaled(value: float, unit: str) -> tuple[float, str]:
    """``value`` in ``unit`` moved to the prefix of the same unit that reads best."""
    for family in PREFIXED:
        sizes = dict(family)
        if unit not in sizes or value == 0 or not math.isfinite(value):
            continue
        base = value * sizes[unit]
        if 1 <= abs(value) < TOO_LONG:
            return value, unit
        # the largest unit the value still reaches 1 in, else the smallest one
        fitting = [(name, size) for name, size in family if abs(base) / size >= 1]
        name, size = fitting[-1] if fitting else family[0]
        return base / size, name
    return value, unit


def quantity(value: float | int | Decimal | None, unit: str, figures: int = 3) -> str:
    """A measured value with its unit, for people: ``quantity(4.04e-4, "kW")`` -> ``0.404 W``,
    ``quantity(12345.678, "kWh")`` -> ``12,346 kWh``; no unit for unitless values."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    shown_value, shown_unit = _scaled(float(value), unit)
    text = number(shown_value, figures)
    return text if unit in UNITLESS else f"{text} {shown_unit}"


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("³", "3").replace("²", "2").replace("%", "pct"))


def words(name: str, unit: str = "") -> str:
    """A stored name in words, capitalised, without a last word that only spells its unit:
    ``words("heat_input_kw", "kW")`` -> ``Heat input``."""
    parts = [w for w in name.split("_") if w]
    unit_key = _squashed(unit) if unit not in UNITLESS else ""
    if unit_key:
        # a name's last words that spell the unit: kw, m3h, l_min, c for °C
        for n in range(min(3, len(parts) - 1), 0, -1):
            if "".join(parts[-n:]).lower() == unit_key:
                parts = parts[:-n]
                break
    text = " ".join(parts) or name
    return text[:1].upper() + text[1:]


def label(name: str, unit: str = "") -> str:
    """A stored name as a label, its unit said once: ``label("heat_input_kw", "kW")`` ->
    ``Heat input (kW)``, ``label("flow_l_min", "L/min")`` -> ``Flow (L/min)``."""
    text = words(name, unit)
    return text if unit in UNITLESS else f"{text} ({unit})"


def classification(code: str | None) -> str:
    """An anomaly classification code in words: ``sensor_error`` -> ``sensor fault``."""
    if not code:
        return "—"
    return CLASSIFICATION_WORDS.get(code, code.replace("_", " "))


_EXPONENT = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?e[+-]?\d+)(?: ([^\s,;:()]+))?")


def readable(message: str, code: str | None = None, *, with_class: bool = True) -> str:
    """An alert message as people read it, also one stored before messages were written for
    people: numbers in scientific notation (``4.04e-04 kW``) as :func:`quantity` writes them,
    and its ending class (``(sensor_error)``) in words, or left out (``with_class=False``:
    where a column already says it)."""

    def rewritten(match: re.Match[str]) -> str:
        unit = match.group(2) or ""
        return quantity(float(match.group(1)), unit) if unit else number(float(match.group(1)))

    text = _EXPONENT.sub(rewritten, message)
    for ending in ({f" ({code})", f" ({classification(code)})"} if code else set()):
        if text.endswith(ending):
            text = text[: -len(ending)]
            return f"{text} ({classification(code)})" if with_class else text
    return text


def file_size(size: int) -> str:
    """A file's size as people read it: ``512 bytes``, ``4.2 KB``, ``12 MB`` (1 KB = 1,000 bytes,
    as the upload limit is counted)."""
    if size < 1000:
        return f"{size:,} byte{'s' * (size != 1)}"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if size / scale < 999.5 or unit == "GB":
            return f"{number(size / scale, 2 if size / scale < 10 else 3)} {unit}"
    raise AssertionError("unreachable")
