"""Text fit to store: what a database column can hold exactly as it was typed.

PostgreSQL refuses NUL in text, and no database encoding holds a lone surrogate (which JSON's
``"\\ud800"`` decodes to); other control characters are no part of a name, email or reason.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def is_plain_text(text: str) -> bool:
    """Whether ``text`` can be stored as it is: no control characters, no lone surrogates."""
    return not (_CONTROL.search(text) or _SURROGATE.search(text))


def shown(text: str) -> str:
    """``text`` with whatever :func:`is_plain_text` refuses replaced by U+FFFD: fit for a log or
    an audit row that records what someone sent."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("\ufffd", text))
