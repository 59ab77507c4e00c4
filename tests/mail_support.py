"""Helpers for the email tests: a real SMTP server (aiosmtpd) that records what it receives,
messages parsed the way a mail client would, data to summarise, and Dash calls to the
pattern-matching callbacks of the "Email summary" forms."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.db import Database
from app.db.models import Alert, EmailLog, Meter, Site, Supplier, User
from app.readings import save_reading
from settings import Settings
from tests.billing_data import add_priced_meter, add_supplier
from tests.conftest import DashCaller, utc

# A value a template forgot to fill: what a customer must never read.
LEAKED = re.compile(r"\bNone\b|\bnan\b|\bNaN\b|\bundefined\b|\binf\b")


# -- a real SMTP server -------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        return parse(self.data)


@dataclass
class Sink:
    """An aiosmtpd handler that keeps every message it accepts, and can be told to refuse
    (``refuse_rcpt``/``refuse_data``: the reply to send instead of 250), to hold new sessions
    at MAIL once ``hold_after`` messages have been delivered and their sessions closed, or to
    keep a DATA waiting until ``data_gate`` is set."""

    refuse_rcpt: str | None = None
    refuse_data: str | None = None
    hold_after: int | None = None
    data_gate: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    in_data: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if self.holding.is_set():
            # Never answered: the session waits here, before any DATA, until the server stops.
            await asyncio.get_running_loop().create_future()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.in_data.set()
        if self.data_gate is not None:
            while not self.data_gate.is_set():
                await asyncio.sleep(0.01)
        if self.refuse_data:
            return self.refuse_data
        with self.lock:
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                          envelope.original_content,
                                          server.transport.get_extra_info("ssl_object") is not None,
                                          getattr(session.auth_data, "login", None)))
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            if self.hold_after is not None and len(self.received) >= self.hold_after:
                self.holding.set()
        return "221 Bye"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_smtp(handler: Sink, port: int, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


@contextmanager
def smtp_server(handler: Sink, **kwargs: Any) -> Iterator[str]:
    """A running SMTP server on a free local port; yields its ``smtp://`` URL (plain, no TLS)."""
    port = free_port()
    controller = start_smtp(handler, port, **kwargs)
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


# -- messages -----------------------------------------------------------------------------


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


@dataclass(frozen=True)
class Parts:
    """A summary email taken apart: its text, HTML, chart and CSV rows."""

    message: EmailMessage
    text: str
    html: str
    csv_name: str
    csv_rows: list[dict[str, str]]
    chart: bytes
    chart_cid: str

    def figure(self, label: str) -> str:
        """The amount ending the plain-text line that starts with ``label`` (``TOTAL``,
        ``VAT``...), whatever the words between."""
        found = re.search(rf"^{re.escape(label)}\b[^\n£]*?\s(-?£[\d,]+\.\d\d)$", self.text, re.MULTILINE)
        assert found, f"no {label} line in the text part"
        return found.group(1)

    @property
    def html_total(self) -> str:
        found = re.search(r'id="summary-total">([^<]+)<', self.html)
        assert found, "no TOTAL in the HTML part"
        return found.group(1)

    def everything(self) -> str:
        """Every part a reader can see, as text: headers, bodies, CSV and file names."""
        names = [p.get_filename() or "" for p in self.message.walk()]
        csv_text = "\n".join(",".join(row.values()) for row in self.csv_rows)
        return "\n".join([str(self.message["Subject"]), self.text, self.html, csv_text, *names])


def summary_parts(message: EmailMessage) -> Parts:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None, "a summary has a plain-text and an HTML body"
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    attachments = [p for p in message.iter_attachments() if p.get_content_type() == "text/csv"]
    assert len(images) == 1 and len(attachments) == 1
    image, attachment = images[0], attachments[0]
    rows = list(csv.DictReader(io.StringIO(attachment.get_content().lstrip("\ufeff"))))
    # Over SMTP lines end in CRLF; a reader sees lines either way.
    return Parts(message, text.get_content().replace("\r\n", "\n"),
                 html.get_content().replace("\r\n", "\n"), attachment.get_filename() or "",
                 rows, image.get_content(), str(image["Content-ID"]).strip("<>"))


# -- data to summarise -------------------------------------------------------------------

# "This month so far" is 1-21 November 2024 (GMT: UK time is UTC), on the Ofgem cap tariffs.
NOW = utc(2024, 11, 21, 10)


@dataclass(frozen=True)
class Estate:
    supplier_id: int
    operator_id: int
    operator_email: str
    billing_email: str
    meters: dict[str, int]  # electricity, gas (same account), opening_only, no_readings


def build_estate(database: Database, settings: Settings) -> Estate:
    """A supplier with a billing contact and four meters whose November covers every case a
    summary must render: actual and estimated readings, gas, a meter whose only reading in the
    period is its opening one, and a meter with no reading in the period."""
    staff = add_supplier(database)
    electricity = add_priced_meter(database, staff.supplier_id, serial="E-MAIL-1")  # 31 Oct, 10 Nov
    gas = add_priced_meter(database, staff.supplier_id, serial="G-MAIL-1", fuel="gas",
                           reads=((utc(2024, 10, 31, 9), "500"), (utc(2024, 11, 10, 9), "520")))
    opening = add_priced_meter(database, staff.supplier_id, serial="E-MAIL-2",
                               reads=((utc(2024, 11, 12, 9), "4000"),))
    idle = add_priced_meter(database, staff.supplier_id, serial="E-MAIL-3",
                            reads=((utc(2024, 10, 20, 9), "100"), (utc(2024, 10, 30, 9), "150")))
    with database.Session() as session, session.begin():
        supplier = session.get(Supplier, staff.supplier_id)
        assert supplier is not None
        supplier.billing_email = f"billing@supplier{staff.supplier_id}.test"
        gas_meter, electricity_meter = session.get(Meter, gas), session.get(Meter, electricity)
        assert gas_meter is not None and electricity_meter is not None
        gas_meter.customer_id = electricity_meter.customer_id  # one account, two fuels
        for meter_id, at, value, kind in ((electricity, utc(2024, 11, 15, 9), "1055.5", "actual"),
                                          (electricity, utc(2024, 11, 20, 9), "1100", "estimated"),
                                          (gas, utc(2024, 11, 18, 9), "531.25", "actual")):
            save_reading(session, supplier_id=staff.supplier_id, user_id=staff.operator_id,
                         role="operator", meter_id=meter_id, value_text=value, read_at=at,
                         tariff_settings=settings.tariffs, kind=kind, now=NOW)
        operator = session.get(User, staff.operator_id)
        assert operator is not None
        operator_email = operator.email
        billing = supplier.billing_email
    return Estate(staff.supplier_id, staff.operator_id, operator_email, billing,
                  {"electricity": electricity, "gas": gas, "opening_only": opening, "no_readings": idle})


# -- email log ----------------------------------------------------------------------------


def log_rows(database: Database, *conditions: Any) -> list[EmailLog]:
    with database.Session() as session:
        return list(session.scalars(select(EmailLog).where(*conditions).order_by(EmailLog.id)))


def add_alerts(database: Database, site_id: int, asset_id: int, sensor_ids: list[int | None], *,
               started_at: datetime, kind: str = "spike", severity: str = "warning") -> list[int]:
    """Open alerts on ``asset_id``, one per sensor in ``sensor_ids``; their ids."""
    with database.Session() as session, session.begin():
        alerts = [Alert(asset_id=asset_id, sensor_id=sensor_id, started_at=started_at, kind=kind,
                        severity=severity, classification="sensor_error",
                        message=f"Reading {n} of the {kind} is out of range", status="open")
                  for n, sensor_id in enumerate(sensor_ids, 1)]
        session.add_all(alerts)
        session.flush()
        return [a.id for a in alerts]


def set_contacts(database: Database, site_id: int, emails: str | None) -> None:
    with database.Session() as session, session.begin():
        site = session.get(Site, site_id)
        assert site is not None
        site.maintenance_emails = emails


# -- the portal's pattern-matching callbacks ---------------------------------------------


class PatternCaller(DashCaller):
    """Calls a callback whose ids are pattern-matching, the way the renderer does: each id is
    the dict of the component that fired, with the ``MATCH`` wildcard filled in by ``where``.
    ``values`` are keyed ``"<type>.<property>"`` for pattern ids, ``"<id>.<property>"``
    otherwise."""

    def pattern(self, output: str, where: str, values: dict[str, Any]):  # type: ignore[no-untyped-def]
        kind, prop = output.rsplit(".", 1)
        dep = next((d for d in self.dependencies
                    if d["output"].startswith("{") and d["output"].endswith(f".{prop}")
                    and json.loads(d["output"].rsplit(".", 1)[0]).get("type") == kind), None)
        assert dep is not None, f"no pattern-matching callback outputs {output}"

        def concrete(ident: str) -> str | dict[str, Any]:
            if not ident.startswith("{"):
                return ident
            return {k: where if v == ["MATCH"] else v for k, v in json.loads(ident).items()}

        def fill(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for item in items:
                ident = concrete(item["id"])
                name = ident["type"] if isinstance(ident, dict) else ident
                out.append({"id": ident, "property": item["property"],
                            "value": values.get(f"{name}.{item['property']}")})
            return out

        inputs = fill(dep["inputs"])
        fired = json.dumps(inputs[0]["id"], sort_keys=True, separators=(",", ":"))
        payload = {
            "output": dep["output"],
            "outputs": {"id": concrete(dep["output"].rsplit(".", 1)[0]), "property": prop},
            "inputs": inputs,
            "state": fill(dep["state"]),
            "changedPropIds": [f"{fired}.{inputs[0]['property']}"],
        }
        return self.client.post("/_dash-update-component", json=payload)


def outbox_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))
