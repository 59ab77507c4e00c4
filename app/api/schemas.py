"""The API's request and response bodies, as pydantic models: they validate what comes in and
are the schemas of the OpenAPI document, so the two cannot disagree.

Limits here (batch and page sizes, text lengths, the range of times) are part of the API's
contract and appear in the document; a request outside them is a 422 naming the field.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from typing_extensions import TypedDict

from app.plain_text import is_plain_text
from app.plant.catalogue import (
    MAX_INTERVAL_S,
    MAX_NAME,
    MAX_SENSOR_NAME,
    MAX_UNIT,
    CatalogueError,
    check_unit,
)
from app.plant.formulas import MAX_LENGTH as MAX_FORMULA

MAX_BATCH_ROWS = 10_000
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_RANGE_ROWS = 10_000
MAX_POINTS = 10_000
MAX_ID = 2**31 - 1  # ids are INTEGER columns: the largest all three databases hold
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
# Printable text: control characters (NUL above all: PostgreSQL refuses it) are not accepted.
PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _in_range(moment: datetime) -> datetime:
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("the time is outside 1970-01-01 to 2100-01-01 (UTC)") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("the time is outside 1970-01-01 to 2100-01-01 (UTC)")
    return utc


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")


def _iso_text(value: Any) -> Any:
    # Pydantic would also take a number, or a string of one, as seconds since 1970: a device
    # sending "0.5" or 0 would store readings of 1 Jan 1970. The contract is ISO 8601 text.
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("the time must be ISO 8601 text with an offset, e.g. 2026-11-21T09:30:00Z")
    return value


#: A moment in time: ISO 8601 with a UTC offset ("2026-11-21T09:30:00Z"), kept in UTC.
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
StrictId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


def text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=PRINTABLE)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- paging -----------------------------------------------------------------------------------


class PageQuery(BaseModel):
    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1.")
    per_page: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items a page.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    page: int
    per_page: int
    total: int = Field(description="Items matching, on all pages.")
    pages: int = Field(description="Number of pages.")

    @classmethod
    def of(cls, items: list[Any], query: PageQuery, total: int) -> dict[str, Any]:
        return {"items": items, "page": query.page, "per_page": query.per_page, "total": total,
                "pages": -(-total // query.per_page)}


# -- errors -----------------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str = Field(description="The field, as a dotted path: readings.12.ts, per_page, value.")
    row: int | None = Field(None, description="For a batch: the row's index, from 0.")
    code: str
    message: str


class Error(BaseModel):
    code: str = Field(description="Machine-readable: validation_error, not_found, rate_limited…")
    message: str = Field(description="What went wrong, naming the field where there is one.")
    errors: list[FieldError] = Field(default_factory=list)
    total_errors: int | None = Field(None, description="When more errors were found than listed.")


# -- sensors and assets -----------------------------------------------------------------------


class SensorReadingIn(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    sensor_id: StrictId
    ts: Moment
    value: Annotated[float, Field(strict=True, allow_inf_nan=False)]


class SensorBatchIn(_In):
    readings: Annotated[list[SensorReadingIn], Field(min_length=1, max_length=MAX_BATCH_ROWS)]


class SensorBatchOut(BaseModel):
    stored: int = Field(description="Readings stored; a re-sent reading replaces the stored value.")
    sensors: int
    first_ts: datetime
    last_ts: datetime


# -- the catalogue: sites, assets, sensors ----------------------------------------------------
# Types here keep a wrong JSON type from reaching the catalogue (a 422 naming the field); the
# catalogue's own rules (app.plant.catalogue: units, names unique within their parent,
# formulas, upstream cycles) answer the rest, also as a 422 (or 409) naming the field.

#: A finite JSON number (1 and 1.5; not "1.5", true or 1e999).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Interval = Annotated[int, Field(strict=True, ge=1, le=MAX_INTERVAL_S,
                                description="Seconds between the sensor's readings.")]
ParameterName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _parameter_value(value: Any) -> float | str | None:
    # One check with one message: as a union of types, pydantic would name each branch
    # ("parameters.efficiency.float", "....constrained-str") in the errors.
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > 64 or not is_plain_text(value):
            raise ValueError("a word is at most 64 characters, without control characters")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise ValueError("give a finite number")
    raise ValueError("give a number, or a word where the type's default is one")


def _unit(value: str) -> str:
    # The catalogue's own check, run here first: on some text pint raises more than the errors
    # check_unit catches (AssertionError for "{}", tokenize's TokenError for "C(",
    # ZeroDivisionError for "k/0"), and that would be a 500. Harmless once check_unit
    # catches them; until then it keeps them a 422 naming the field.
    if not value:
        return value
    try:
        check_unit(value)
    except CatalogueError as exc:
        raise ValueError(exc.args[0]) from None
    except Exception:  # noqa: BLE001 - whatever pint raises, the unit is not one
        raise ValueError(f"unknown unit {value!r}: write it as in MW, kWh, m³/h, °C, bar, "
                         "L/min, % or 1") from None
    return value


#: A unit pint knows: MW, kWh, m³/h, °C, bar, L/min, % or 1 (a pure number).
Unit = Annotated[text(MAX_UNIT), AfterValidator(_unit)]  # type: ignore[valid-type]


#: A parameter is a number, or a word for a type's choices (a boiler's control mode).
ParameterValue = Annotated[float | str | None, PlainValidator(_parameter_value), WithJsonSchema(
    {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 64}, {"type": "null"}]})]
Parameters = Annotated[dict[ParameterName, ParameterValue], Field(
    max_length=100, description="The asset's parameters by name: numbers, or a word where the "
                                "type's default is one. In a change, null removes one.")]
Targets = Annotated[list[text(MAX_SENSOR_NAME)], Field(  # type: ignore[valid-type]
    max_length=50, description="The sensors or calculations to forecast; null: the type's "
                               "default.")]
Emails = Annotated[list[text(254)], Field(  # type: ignore[valid-type]
    max_length=50, description="Who hears of the site's maintenance.")]
Kind = text(32, min_length=1)
ASSET_TYPE_TEXT = ("One of the twin types (`generic`: any plant, your own sensors and formulas; "
                   "or a built-in type such as `drivetrain`, `boiler`, `water_dispenser`).")


class SiteOut(BaseModel):
    id: int
    name: str
    location: str | None
    maintenance_emails: list[str]
    retired_at: datetime | None = Field(description="When it was retired; null while live.")


class SiteIn(_In):
    name: text(MAX_NAME, min_length=1) = Field(  # type: ignore[valid-type]
        description="Unique among the supplier's sites.")
    location: text(MAX_NAME) | None = None  # type: ignore[valid-type]
    maintenance_emails: Emails | None = None


class SitePatch(_In):
    """The fields to change; the others stay as they are (null clears a field that may be
    empty)."""

    name: text(MAX_NAME, min_length=1) = None  # type: ignore[valid-type]
    location: text(MAX_NAME) | None = None  # type: ignore[valid-type]
    maintenance_emails: Emails | None = None


class RetiredQuery(PageQuery):
    retired: bool = Field(False, description="Include retired records.")


class FormulaIn(_In):
    name: text(MAX_SENSOR_NAME, min_length=1) = Field(  # type: ignore[valid-type]
        description="Lower-case letters, digits and _; not a sensor's name.")
    unit: Unit = Field("", description="The result's unit (MW, kWh, 1...).")
    formula: text(MAX_FORMULA, min_length=1) = Field(description=(  # type: ignore[valid-type]
        "Arithmetic over the asset's sensors, earlier calculations and parameters, e.g. "
        "`integrate(demand) / 3600`."))


class FormulaOut(BaseModel):
    name: str
    unit: str
    formula: str


class SensorOut(BaseModel):
    id: int
    asset_id: int
    name: str
    unit: str
    interval_s: int | None = Field(description="Seconds between readings; null: not known yet.")
    normal_min: float | None
    normal_max: float | None
    retired_at: datetime | None


class SensorIn(_In):
    asset_id: StrictId
    name: text(MAX_SENSOR_NAME, min_length=1) = Field(description=(  # type: ignore[valid-type]
        "Lower-case letters, digits and _, from a letter (formulas use it); unique on the asset."))
    unit: Unit = Field(description="MW, kWh, m³/h, °C, bar, L/min, % or 1.")
    interval_s: Interval | None = None
    normal_min: Number | None = None
    normal_max: Number | None = None


class SensorPatch(_In):
    """The fields to change; the others stay as they are (null clears a field that may be
    empty)."""

    name: text(MAX_SENSOR_NAME, min_length=1) = None  # type: ignore[valid-type]
    unit: Unit = None
    interval_s: Interval | None = None
    normal_min: Number | None = None
    normal_max: Number | None = None


class AssetOut(BaseModel):
    id: int
    name: str
    asset_type: str
    site_id: int
    site: str
    upstream_id: int | None
    parameters: dict[str, Any]
    formulas: list[FormulaOut]
    forecast_targets: list[str] | None = Field(description="null: the type's default targets.")
    retired_at: datetime | None
    sensors: list[SensorOut] = Field(description="Its live sensors (and retired ones when the "
                                                 "list asks for retired records).")


class AssetQuery(RetiredQuery):
    site_id: Id | None = None
    asset_type: text(32) | None = None  # type: ignore[valid-type]


class AssetIn(_In):
    site_id: StrictId
    name: text(MAX_NAME, min_length=1) = Field(  # type: ignore[valid-type]
        description="Unique on its site.")
    asset_type: Kind = Field("generic", description=ASSET_TYPE_TEXT)  # type: ignore[valid-type]
    parameters: Parameters | None = None
    upstream_id: StrictId | None = Field(None, description="The asset that feeds this one.")
    formulas: Annotated[list[FormulaIn], Field(max_length=50)] | None = None
    forecast_targets: Targets | None = None


class AssetPatch(_In):
    """The fields to change; the others stay as they are (null clears a field that may be
    empty). ``parameters`` are merged into the stored ones; ``formulas`` and
    ``forecast_targets`` replace the stored lists."""

    site_id: StrictId = Field(None, description="Move it to another of the supplier's sites.")
    name: text(MAX_NAME, min_length=1) = None  # type: ignore[valid-type]
    asset_type: Kind = Field(  # type: ignore[valid-type]
        None, description="Cannot change; accepted unchanged, for clients that send the whole "
                          "record.")
    parameters: Parameters = None
    upstream_id: StrictId | None = None
    formulas: Annotated[list[FormulaIn], Field(max_length=50)] | None = None
    forecast_targets: Targets | None = None


class StatusOut(BaseModel):
    asset_id: int
    level: Literal["ok", "attention", "failed", "never"] = Field(description=(
        "ok: the last run did everything; attention: it ran, but part of the twin waits for "
        "something (a sensor, data, a formula); failed: it stopped with an error; never: no run."))
    text: str
    notes: list[str]
    at: datetime | None = Field(description="When the run finished.")


class ForecastQuery(_In):
    target: text(MAX_SENSOR_NAME, min_length=1) = Field(  # type: ignore[valid-type]
        description="A sensor or calculation of the asset that has a model.")
    limit: int = Field(MAX_POINTS, ge=1, le=MAX_POINTS, description="At most this many forecasts, "
                                                                    "the nearest first.")


class ForecastPointOut(BaseModel):
    ts: datetime
    value: float
    lower: float | None
    upper: float | None


class ForecastOut(BaseModel):
    asset_id: int
    target: str
    unit: str | None
    model_version: int | None = Field(description="The active model's version; null: no model yet.")
    step_minutes: int | None
    issued_at: datetime | None = Field(description="When the forecasts were made.")
    items: list[ForecastPointOut] = Field(description="Oldest first.")


class LatestOut(BaseModel):
    sensor_id: int
    name: str
    unit: str
    ts: datetime | None
    value: float | None


class RangeQuery(_In):
    start: Moment
    end: Moment
    max_points: int | None = Field(None, ge=2, le=MAX_POINTS, description=(
        "Downsample to at most this many points (MinMaxLTTB, hourly min/max for long ranges): "
        "one page, no next_start. Without it, the stored readings, a page at a time."))
    limit: int = Field(1000, ge=1, le=MAX_RANGE_ROWS, description="Readings a page (raw).")

    @model_validator(mode="after")
    def _ordered(self) -> RangeQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class PointOut(BaseModel):
    ts: datetime
    value: float


class RangeOut(BaseModel):
    sensor_id: int
    start: datetime
    end: datetime
    resolution: Literal["raw", "hour"]
    downsampled: bool
    items: list[PointOut]
    next_start: datetime | None = Field(description="Ask again with start=next_start for more.")


class MetricsQuery(_In):
    start: Moment
    end: Moment

    @model_validator(mode="after")
    def _ordered(self) -> MetricsQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class MetricOut(BaseModel):
    key: str
    name: str
    value: float | None
    unit: str
    formula: str
    band: str | None
    detail: str


class MetricsOut(BaseModel):
    asset_id: int
    start: datetime
    end: datetime
    shortened: bool = Field(description="The range was longer than allowed: its newest days only.")
    readings: int
    alert_episodes: int
    metrics: list[MetricOut]


class FaultIn(_In):
    kind: Literal["leak", "stuck_sensor", "drift", "spike", "overuse"]
    start: Moment
    end: Moment
    sensor: text(64) | None = None  # type: ignore[valid-type]
    magnitude: float = Field(1.0, allow_inf_nan=False, ge=-1e6, le=1e6)


class SimulationIn(_In):
    start: Moment
    end: Moment
    interval_s: int = Field(60, ge=1, le=3600)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    faults: Annotated[list[FaultIn], Field(max_length=20)] = []
    resume: bool = Field(True, description="Start from the asset's stored readings before start.")
    store: bool = Field(False, description="Write the simulated readings into the history "
                                           "(needs a write token).")
    max_points: int = Field(500, ge=2, le=MAX_POINTS, description="Points returned per sensor.")

    @model_validator(mode="after")
    def _ordered(self) -> SimulationIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SimulatedSensor(BaseModel):
    name: str
    min: float | None
    max: float | None
    mean: float | None
    last: float | None
    values: list[float | None]


class SimulationOut(BaseModel):
    asset_id: int
    start: datetime
    end: datetime
    interval_s: int
    rows: int
    stored: int
    ts: list[datetime]
    sensors: list[SimulatedSensor]
    faults: list[dict[str, Any]]


# -- meters -----------------------------------------------------------------------------------


class MeterOut(BaseModel):
    id: int
    serial: str
    customer: str
    account: str
    address: str
    fuel: str
    tariff: str
    last_value: Decimal | None
    last_read_at: datetime | None
    last_kind: str | None
    cost_to_date_p: Decimal = Field(description="Exact pence, VAT included.")


class MeterReadingIn(_In):
    value: Annotated[str, StringConstraints(min_length=1, max_length=32)] | Annotated[
        float, Field(strict=True, allow_inf_nan=False, ge=0)] = Field(
        description="The register as read: digits with at most 3 decimals, e.g. \"012345\".")
    read_at: Moment
    kind: Literal["actual", "estimated"] = "actual"
    reason: text(500) | None = Field(None, description=(  # type: ignore[valid-type]
        "Needed when the reading raises a warning (lower than the previous one, no advance, "
        "a high advance): the same rule as the portal's modal."))
    lower_means: Literal["correction", "rollover"] = "correction"


class MeterReadingOut(BaseModel):
    id: int
    meter_id: int
    read_at: datetime
    value: Decimal
    kind: str
    source: str
    flags: list[str]
    advance: Decimal | None
    kwh: Decimal | None
    days: int | None
    total_p: Decimal | None
    duplicate: bool = Field(False, description="The same reading was already stored; nothing new.")


# -- alerts -----------------------------------------------------------------------------------


class AlertQuery(PageQuery):
    status: Literal["open", "acknowledged", "closed"] | None = None
    asset_id: Id | None = None
    site_id: Id | None = None


class AlertOut(BaseModel):
    id: int
    site: str
    asset_id: int
    asset: str
    sensor: str | None
    kind: str
    severity: str
    classification: str
    message: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None


class AcknowledgeIn(_In):
    comment: text(1000, min_length=1)  # type: ignore[valid-type]


# -- the pages, named (a generic's name, "Page[AssetOut]", is not a valid OpenAPI component) ----


class AssetPage(Page[AssetOut]):
    pass


class SitePage(Page[SiteOut]):
    pass


class SensorPage(Page[SensorOut]):
    pass


class LatestPage(Page[LatestOut]):
    pass


class MeterPage(Page[MeterOut]):
    pass


class MeterReadingPage(Page[MeterReadingOut]):
    pass


class AlertPage(Page[AlertOut]):
    pass
