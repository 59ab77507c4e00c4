"""How values read in the portal: UK time, pounds and pence, quantities."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from app.tariffs import LONDON, format_pounds


def when(ts: datetime | None, empty: str = "no data yet") -> str:
    """A UTC time as UK local time, e.g. ``21 Nov 2026 09:30``."""
    return ts.astimezone(LONDON).strftime("%d %b %Y %H:%M") if ts else empty


def pounds(pence: Decimal | int | None) -> str:
    return format_pounds(pence or 0)


def quantity(value: Decimal | None, unit: str, places: int = 1) -> str:
    """A billed quantity (a meter's advance, kWh of a period) to fixed ``places``, as on the
    bill, in the meter's own unit. Measured values (sensors, alerts) read with
    :func:`app.plain_text.quantity` instead: a sensible unit prefix, three figures."""
    return "—" if value is None else f"{value:,.{places}f} {unit}"
