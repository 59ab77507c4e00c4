"""Rendering emails: HTML with an inline chart, a plain-text alternative, and attachments.

Templates live in ``app/templates/email`` and render with ``StrictUndefined`` and a value
filter that turns a missing value into an explicit dash, so a gap in the data fails loudly in
tests instead of reaching a customer as "None", "nan" or "undefined".
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app.summaries import CostSummary
from app.tariffs import LONDON, format_pounds, to_pence

CHART_CID = "consumption-chart"
MISSING = "—"


def _value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return value


def _pounds(pence: int | Decimal | None) -> str:
    return MISSING if pence is None else format_pounds(pence)


def _number(value: Decimal | float | None, places: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{Decimal(value):,.{places}f}"


def _local(moment: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    return MISSING if moment is None else moment.astimezone(LONDON).strftime(fmt)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("app", "templates/email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(value=_value, pounds=_pounds, number=_number, local=_local)
    return env


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    message_id: str


def _message(envelope: Envelope, subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = envelope.sender
    message["To"] = envelope.recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = envelope.message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# -- cost summaries -----------------------------------------------------------------------


def summary_subject(summary: CostSummary) -> str:
    return f"{summary.supplier_name}: cost summary for {summary.title}, {summary.period.label}"


def consumption_chart(summary: CostSummary) -> bytes:
    """A PNG bar chart of the kWh each day's readings closed, with the cumulative cost on a
    second axis."""
    # The object-oriented Figure API, not pyplot: no global state, safe in threaded workers.
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    days: dict[date, list[Decimal]] = {}
    for line in summary.lines:
        if line.kwh is None:
            continue
        day = line.read_at.astimezone(LONDON).date()
        kwh, pence = days.get(day, [Decimal(0), Decimal(0)])
        days[day] = [kwh + line.kwh, pence + line.total_p]
    figure = Figure(figsize=(6.4, 2.6), dpi=100, layout="constrained")
    axis = figure.add_subplot()
    if days:
        ordered = sorted(days)
        axis.bar(ordered, [float(days[d][0]) for d in ordered], width=0.8, color="#2c7be5", label="kWh")
        axis.set_ylabel("Energy (kWh)")
        locator = AutoDateLocator(minticks=3, maxticks=8)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        cost = axis.twinx()
        running, cumulative = Decimal(0), []
        for day in ordered:
            running += days[day][1]
            cumulative.append(to_pence(running) / 100)
        cost.plot(ordered, cumulative, color="#e63757", marker="o", markersize=3, label="Cumulative cost (£)")
        cost.set_ylabel("Cumulative cost (£)")
        cost.set_ylim(bottom=0)
        handles = axis.get_legend_handles_labels()[0] + cost.get_legend_handles_labels()[0]
        axis.legend(handles, ["kWh", "Cumulative cost (£)"], loc="upper left", fontsize=8, frameon=False)
    else:
        axis.text(0.5, 0.5, "No consumption in this period", ha="center", va="center")
        axis.set_axis_off()
    axis.set_title(f"Consumption, {summary.period.label}", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def readings_csv(summary: CostSummary) -> bytes:
    """The readings as CSV (UTF-8 with a byte-order mark, so spreadsheets read the £)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["meter", "read_at_uk", "kind", "reading", "unit", "advance", "kwh", "days",
                     "energy_gbp", "standing_charge_gbp", "vat_gbp", "total_gbp"])

    def money(pence: Decimal) -> str:
        return f"{Decimal(to_pence(pence)) / 100:.2f}"

    for line in summary.lines:
        opening = line.advance is None
        writer.writerow([
            line.meter_serial, _local(line.read_at, "%Y-%m-%d %H:%M"), line.kind, f"{line.value}",
            line.unit, "" if opening else f"{line.advance}", "" if line.kwh is None else f"{line.kwh:.3f}",
            "" if line.days is None else line.days,
            "" if opening else money(line.energy_p), "" if opening else money(line.standing_p),
            "" if opening else money(line.vat_p), "" if opening else money(line.total_p),
        ])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def summary_message(summary: CostSummary, envelope: Envelope) -> EmailMessage:
    env = environment()
    context = {"s": summary, "cost": summary.cost, "chart_cid": CHART_CID}
    message = _message(envelope, summary_subject(summary),
                       env.get_template("summary.txt").render(context),
                       env.get_template("summary.html").render(context))
    # The chart travels inside the HTML part's multipart/related, referenced by Content-ID.
    html_part = message.get_payload()[1]
    html_part.add_related(consumption_chart(summary), maintype="image", subtype="png",
                          cid=f"<{CHART_CID}>", filename="consumption.png")
    stem = f"readings-{summary.title.replace(' ', '-')}-{summary.period.key}"
    # Bytes get no charset of their own, and a text part without one is US-ASCII to a reader.
    message.add_attachment(readings_csv(summary), maintype="text", subtype="csv",
                           filename=f"{stem}.csv", params={"charset": "utf-8"})
    return message


# -- alerts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    """An alert as the email shows it."""

    id: int
    site: str
    asset: str
    sensor: str | None
    kind: str
    severity: str
    classification: str
    message: str
    started_at: datetime
    ended_at: datetime | None


def alert_subject(alerts: Sequence[AlertView]) -> str:
    if len(alerts) == 1:
        alert = alerts[0]
        return f"[{alert.severity.upper()}] {alert.asset} at {alert.site}: {alert.kind.replace('_', ' ')}"
    sites = sorted({a.site for a in alerts})
    return f"{len(alerts)} new alerts at {', '.join(sites)}"


def alert_message(alerts: Sequence[AlertView], envelope: Envelope) -> EmailMessage:
    env = environment()
    context = {"alerts": list(alerts), "digest": len(alerts) > 1}
    return _message(envelope, alert_subject(alerts),
                    env.get_template("alerts.txt").render(context),
                    env.get_template("alerts.html").render(context))
