"""Hostile values for every surface that takes input (tests/test_hostile_input.py): SQL
injection, HTML and script, huge and tiny numbers, unicode and control characters (NUL above
all: PostgreSQL refuses it in text), lone surrogates (no encoding holds them), empty, very long.

``STRINGS`` go wherever text goes (a form field, a query parameter, a CSV cell, a JSON string);
``JSON_VALUES`` add the other JSON types, for JSON bodies. None of them is a valid meter
reading, time, id or token, so wherever one of those is expected, each must be refused.
"""

from __future__ import annotations

from typing import Any

STRINGS: list[str] = [
    # SQL injection
    "' OR '1'='1",
    "'; DROP TABLE meter_readings; --",
    "1; DELETE FROM users",
    "1 OR 1=1",
    '" OR ""="',
    "1' UNION SELECT password_hash FROM users --",
    "admin'--",
    "1)); WAITFOR DELAY '0:0:5'--",
    "'; SELECT pg_sleep(5); --",
    "%' AND 1=0 UNION ALL SELECT NULL --",
    # HTML, script and templates
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "</textarea><script>alert(document.cookie)</script>",
    "{{7*7}}",
    "${7*7}",
    '<!--#exec cmd="ls"-->',
    # numbers: huge, tiny, special, in other notations and scripts
    "1e308",
    "1e309",
    "-1e309",
    "9" * 400,
    "0.00000000000000000000001",
    "1e-400",
    "NaN",
    "Infinity",
    "-0",
    "-1",
    "0x1F",
    "1_000",
    "1,000.5",
    "١٠١٠",  # Arabic-Indic digits
    "１０１０",  # full-width digits
    "1010\u200b",  # zero-width space
    # control characters and unicode
    "\x00",
    "1010\x00",
    "\x00' OR 1=1 --",
    "1\r\n2",
    "\x1b[31mred",
    "\x7f",
    "\u202e1010",  # right-to-left override
    "\ufeff1010",  # byte order mark
    "\ud800",  # lone surrogates
    "1010\udfff",
    "\U0001f600" * 10,
    "A\u0301\u0301\u0301",
    "\u0085",
    "%00",
    "%s%s%s%n",
    "../../../../etc/passwd",
    # empty, blank, look-alikes of other types, very long
    "",
    " ",
    "\t",
    "null",
    "None",
    "undefined",
    "true",
    "[]",
    "{}",
    "a" * 100_000,
]

JSON_VALUES: list[Any] = [
    *STRINGS,
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**64,
    -(2**63) - 1,
    1e308,
    -1e308,
    5e-324,
    [],
    {},
    [1, 2],
    {"$gt": ""},
    [[[[[[[[[[]]]]]]]]]],
]

#: Every value's text contains one of these when it is markup a browser would run.
MARKUP = ("<script", "<img", "<svg", "</textarea")


def label(value: Any) -> str:
    """A short, printable name for a value in test ids and messages."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


def is_markup(value: Any) -> bool:
    return isinstance(value, str) and any(m in value for m in MARKUP)
