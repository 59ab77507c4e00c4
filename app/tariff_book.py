"""A supplier's tariff book: the dated prices of each of its tariffs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Tariff


def list_tariffs(session: Session, supplier_id: int) -> list[Tariff]:
    """Every dated price of the supplier's tariffs, newest first within each tariff."""
    return list(session.scalars(
        select(Tariff).where(Tariff.supplier_id == supplier_id)
        .order_by(Tariff.code, Tariff.valid_from.desc())
    ))
