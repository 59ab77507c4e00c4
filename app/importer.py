"""File import of sensor and meter readings from CSV: the columns found by their headers, times
read in the supplier's time zone, every row checked, and a report of the rows refused by line.

The CLI (``twin import``), the portal's import page and its Celery task all call
:func:`import_sensors` and :func:`import_meters` on a file on disk.

* **Columns** are found by header, case-insensitively and ignoring spaces and punctuation
  (``Time Stamp`` is ``timestamp``), from the aliases of each :class:`Field`; an explicit mapping
  (field -> header) overrides the guess. The delimiter is the header line's commonest of
  ``, ; TAB |``; a UTF-8 byte order mark is dropped.
* **Times** with an offset (``Z``, ``+01:00``) are that instant. Naive times are clock times in
  ``tz`` (default Europe/London, the supplier's local time): one that happens twice (clocks go
  back) or never (clocks go forward) is refused, never guessed. ISO 8601 and UK day-first
  (``31/10/2024 13:45``) are understood.
* **Refused rows** do not stop the others: each problem is reported with the file's line number
  (the header is line 1), the column and a message, and streamed to an optional CSV with the
  line's values as given.
* **Sensor readings** are checked a chunk at a time with vectorised pandas (memory stays bounded
  for files of millions of rows) and stored through :func:`app.ingest.write_sensor_readings`,
  idempotent on (sensor, time): importing a file again changes nothing.
* **Meter readings** each go through :func:`app.readings.save_reading`, the rules of the
  portal's modal, in order of meter and time; one already stored with the same value counts as
  "already stored", so a re-import changes nothing either.

Sensors and meters are resolved within the importing supplier only: another supplier's id or
name is refused exactly as an unknown one is.
"""

from __future__ import annotations

import codecs
import csv
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from sqlalchemy import select

from app.db import Database
from app.db.models import Asset, Meter, Sensor, Site
from app.ingest import write_sensor_readings
from app.readings import MeterNotFound, ReadingRefused, save_reading
from app.series import refresh_rollups
from settings import TariffSettings

DEFAULT_TZ = "Europe/London"
KINDS = ("sensors", "meters")
#: Longer fields are refused; the report quotes at most this much of any value.
MAX_FIELD_CHARS = 500
QUOTE_CHARS = 120
#: Refusals kept in memory for the report (all of them go to the refused-rows CSV).
KEEP_REFUSALS = 1000
SNIFF_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
#: Sensor readings may be stamped this far ahead of the importing machine's clock.
FUTURE_GRACE = timedelta(minutes=5)
EARLIEST = pd.Timestamp("1970-01-01", tz="UTC")
#: Meter readings are committed this many at a time (each in its own savepoint).
METER_COMMIT_ROWS = 200
REFUSED_COLUMNS = ("line", "field", "message")
WHOLE_LINE = "(line)"

_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_DAYFIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
_SKIPPED = re.compile(r"Skipping line (\d+): .*?saw (\d+)", re.IGNORECASE)
_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


class ImportFileError(ValueError):
    """The file, or how it is to be read, cannot be used at all (nothing was stored); ``str()``
    says what is wrong in words a person can act on."""


# -- the fields of each kind of file ----------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A column an import reads: its name, what it holds (for messages and the page) and the
    headers recognised as it (normalised: lower case, words joined by ``_``)."""

    name: str
    label: str
    aliases: tuple[str, ...]


SENSOR_FIELDS = (
    Field("sensor_id", "the sensor's id", ("sensor_id", "sensorid", "sensor_no", "sensor_number", "id")),
    Field("site", "the site's name (where asset names repeat across sites)",
          ("site", "site_name", "plant", "plant_name")),
    Field("asset", "the asset's name", ("asset", "asset_name", "equipment", "equipment_name", "device")),
    Field("sensor", "the sensor's name on its asset",
          ("sensor", "sensor_name", "tag", "tag_name", "channel", "signal", "point")),
    Field("ts", "the time of the reading",
          ("ts", "time", "timestamp", "datetime", "date_time", "time_stamp", "reading_time",
           "measured_at", "recorded_at", "date")),
    Field("value", "the reading", ("value", "reading", "val", "reading_value", "measurement")),
)
METER_FIELDS = (
    Field("meter_id", "the meter's id", ("meter_id", "meterid", "id")),
    Field("serial", "the meter's serial number",
          ("serial", "serial_number", "serial_no", "meter_serial", "meter_serial_number", "msn",
           "meter", "meter_number", "meter_no")),
    Field("read_at", "when the meter was read",
          ("read_at", "read_date", "reading_date", "read_time", "reading_time", "date", "time",
           "timestamp", "datetime", "date_time", "ts")),
    Field("value", "the register reading",
          ("value", "reading", "read", "meter_reading", "register", "register_reading", "read_value")),
    Field("kind", "actual or estimated (A or E; default actual)",
          ("kind", "type", "read_type", "reading_type")),
    Field("reason", "why an unusual reading is right (a reading lower than the previous one, "
          "zero or more than twice the usual use is stored only with a reason)",
          ("reason", "comment", "comments", "note", "notes")),
)
FIELDS: dict[str, tuple[Field, ...]] = {"sensors": SENSOR_FIELDS, "meters": METER_FIELDS}
_KIND_VALUES = {"": "actual", "a": "actual", "act": "actual", "actual": "actual",
                "e": "estimated", "est": "estimated", "estimate": "estimated", "estimated": "estimated"}


def normalise_header(text: str) -> str:
    """``" Time Stamp (UTC)"`` -> ``"time_stamp_utc"``: how headers are compared with aliases."""
    return "_".join(re.findall(r"[0-9a-z]+", text.casefold()))


def _check_kind(kind: str) -> tuple[Field, ...]:
    if kind not in FIELDS:
        raise ImportFileError(f"unknown kind of import {kind!r}: sensors or meters")
    return FIELDS[kind]


def guess_mapping(kind: str, columns: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Field -> header for every field whose aliases name one of ``columns`` (each header used
    once, earlier aliases first). A sensor file with a ``sensor`` column but neither an asset
    nor a sensor id column names its sensors by id."""
    fields = _check_kind(kind)
    normal = {normalise_header(c): c for c in reversed(columns)}  # the first of equal headers
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for one in fields:
        for alias in one.aliases:
            header = normal.get(alias)
            if header is not None and header not in used:
                mapping[one.name] = header
                used.add(header)
                break
    if kind == "sensors" and "sensor" in mapping and not {"asset", "sensor_id"} & mapping.keys():
        mapping["sensor_id"] = mapping.pop("sensor")
    return mapping


def resolve_mapping(kind: str, columns: tuple[str, ...] | list[str],
                    explicit: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The guessed mapping with ``explicit`` choices over it (a field mapped to ``None`` or
    ``""`` is not read); :class:`ImportFileError` when a header is not in the file, a column is
    chosen twice or a required field has no column."""
    fields = _check_kind(kind)
    names = {f.name for f in fields}
    mapping = guess_mapping(kind, columns)
    for name, header in (explicit or {}).items():
        if name not in names:
            raise ImportFileError(f"{name!r} is not a column of a {kind} import: it reads "
                                  f"{', '.join(f.name for f in fields)}")
        if header:
            if header not in columns:
                raise ImportFileError(f"{name}={header}: the file has no column {header!r} "
                                      f"(its columns: {_listing(columns)})")
            # A header chosen explicitly is no longer what another field guessed.
            mapping = {k: v for k, v in mapping.items() if v != header}
            mapping[name] = header
        else:
            mapping.pop(name, None)
    chosen = list(mapping.values())
    twice = sorted({h for h in chosen if chosen.count(h) > 1})
    if twice:
        raise ImportFileError(f"the column {twice[0]!r} is chosen for two fields")
    duplicated = sorted({h for h in chosen if list(columns).count(h) > 1})
    if duplicated:
        raise ImportFileError(f"the file has two columns named {duplicated[0]!r}: rename one")
    missing = _missing(kind, mapping)
    if missing:
        by_name = {f.name: f for f in fields}
        wanted = "; ".join(f"{name} ({by_name[name].label}: a header such as "
                           f"{', '.join(by_name[name].aliases[:4])})" if name in by_name else name
                           for name in missing)
        looks_like_data = [c for c in columns if _looks_like_data(c)]
        if looks_like_data and not guess_mapping(kind, columns):
            raise ImportFileError(
                f"the first line looks like readings ({_listing(columns)}), not column names: "
                f"add a header line, e.g. {','.join(_example_header(kind))}")
        raise ImportFileError(f"no column for {wanted}. The file's columns are: {_listing(columns)}")
    return mapping


def _missing(kind: str, mapping: Mapping[str, str]) -> list[str]:
    if kind == "sensors":
        missing = [] if "sensor_id" in mapping or {"asset", "sensor"} <= mapping.keys() else (
            ["asset", "sensor"] if "sensor_id" not in mapping and {"asset", "sensor"} & mapping.keys()
            else ["sensor_id"])
        missing = [m for m in missing if m not in mapping]
        return missing + [f for f in ("ts", "value") if f not in mapping]
    missing = [] if {"meter_id", "serial"} & mapping.keys() else ["serial"]
    return missing + [f for f in ("read_at", "value") if f not in mapping]


def _example_header(kind: str) -> tuple[str, ...]:
    return ("sensor_id", "ts", "value") if kind == "sensors" else ("serial", "read_at", "value")


def _looks_like_data(text: str) -> bool:
    value = text.strip()
    if not value:
        return False
    if pd.to_numeric(pd.Series([value]), errors="coerce").notna().iloc[0]:
        return True
    return bool(re.match(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}", value))


def _listing(columns: tuple[str, ...] | list[str], most: int = 20) -> str:
    shown = ", ".join(repr(_quote(c, 40)) for c in list(columns)[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "") if columns else "none"


def _quote(text: str, most: int = QUOTE_CHARS) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


# -- the file itself ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's column names as written, its delimiter and its size in bytes."""

    columns: tuple[str, ...]
    delimiter: str
    size: int


def read_header(path: Path) -> CsvHeader:
    """The file's header line, after checking that it is UTF-8 text with one;
    :class:`ImportFileError` otherwise."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError("the file is UTF-16 text: save it as \"CSV UTF-8\" and import that")
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ImportFileError("the file is a spreadsheet (Excel), not CSV: save it as "
                              "\"CSV UTF-8\" and import that")
    if b"\x00" in head:
        raise ImportFileError("the file is not text (it holds binary data): import a CSV file")
    try:
        # A multi-byte character cut by the end of the sample is not an error.
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=size <= SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"the file is not UTF-8 text (byte {exc.start + 1} is {head[exc.start:exc.start + 1]!r}): "
            "save it as \"CSV UTF-8\" and import that") from None
    if not text.strip():
        raise ImportFileError("the file is empty")
    first = text.lstrip("\r\n").split("\n", 1)
    if len(first) == 1 and size > SNIFF_BYTES:
        raise ImportFileError(f"the first line is longer than {SNIFF_BYTES // 1024} KiB: is this a "
                              "CSV file with a header line?")
    line = first[0].rstrip("\r")
    delimiter = max(DELIMITERS, key=line.count)
    if not line.count(delimiter):
        delimiter = ","
    columns = tuple(c.strip() for c in next(csv.reader([line], delimiter=delimiter)))
    if not any(columns):
        raise ImportFileError("the first line is empty: the file needs a header line naming its "
                              "columns")
    return CsvHeader(columns, delimiter, size)


def preview(path: Path, rows: int = 10) -> tuple[CsvHeader, list[list[str]]]:
    """The header and the first ``rows`` lines as written (each value cut to a readable length)."""
    header = read_header(path)
    found: list[list[str]] = []
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=header.delimiter)
        next(reader, None)
        for record in reader:
            if len(found) >= rows:
                break
            if any(v.strip() for v in record):
                found.append([_quote(v, 60) for v in record])
    return header, found


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """One problem with one line: its number in the file (header = 1), the column (as headed in
    the file), what is wrong, and the line's values as given."""

    line: int
    field: str
    message: str
    raw: dict[str, str]


@dataclass
class ImportReport:
    """What an import did. ``lines`` counts data lines (blank lines aside); ``refused_rows`` the
    lines refused (one may have several :class:`Refusal`, of which the first
    :data:`KEEP_REFUSALS` are kept here; the refused-rows CSV has them all)."""

    kind: str
    tz: str
    mapping: dict[str, str]
    lines: int = 0
    stored: int = 0
    already_stored: int = 0  # meters: the same reading was already there
    repeated: int = 0  # sensors: a later line gave the same sensor and time (the later one is stored)
    refused_rows: int = 0
    problems: int = 0  # every refusal, kept or not
    refusals: list[Refusal] = field(default_factory=list)
    seconds: float = 0.0
    #: sensors: the reporting interval detected from the data (seconds), by "asset / sensor",
    #: for each sensor whose interval nobody had set
    intervals: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line a person reads: what was stored and what was refused."""
        parts = [f"{self.lines:,} line{'s' if self.lines != 1 else ''} read",
                 f"{self.stored:,} stored"]
        if self.kind == "meters":
            parts.append(f"{self.already_stored:,} already stored")
        if self.repeated:
            parts.append(f"{self.repeated:,} repeated an earlier line's sensor and time")
        parts.append(f"{self.refused_rows:,} refused")
        text = ", ".join(parts)
        if self.refused_rows:
            text += " (the other lines are stored)"
        if self.intervals:
            text += "; reporting interval detected: " + ", ".join(
                f"{name} every {seconds:,} s" for name, seconds in sorted(self.intervals.items()))
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ImportReport:
        values = dict(data)
        values["refusals"] = [Refusal(**r) for r in values.get("refusals", [])]
        return cls(**values)


@dataclass(frozen=True)
class Progress:
    """How far an import is: ``rows`` read so far, and ``done`` of ``total`` in ``unit`` (the
    bytes of the file while sensor readings are read and stored; the readings while meter
    readings are saved)."""

    rows: int
    done: int
    total: int
    unit: str  # "bytes" | "rows"

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.done / self.total)) if self.total else 0


ProgressFn = Callable[[Progress], None]


class _Refused:
    """Collects refused lines: counts them, keeps the first few for the report, and writes all
    of them to the refused-rows CSV (when asked for). Sensor files are refused chunk by chunk,
    in line order, and written as found; a meter file's problems come in the order its
    readings are saved, so they are kept (``in_order=False``) and written sorted at the end."""

    def __init__(self, report: ImportReport, columns: tuple[str, ...], path: Path | None, *,
                 in_order: bool = True) -> None:
        self.report = report
        self.columns = columns
        self.in_order = in_order
        self.waiting: list[pd.DataFrame] = []
        self.handle = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = path.open("w", encoding="utf-8", newline="")
            csv.writer(self.handle).writerow([*REFUSED_COLUMNS, *columns])

    def add(self, problems: pd.DataFrame) -> None:
        """``problems``: columns line, field, message, then the file's columns (as strings)."""
        if problems.empty:
            return
        self.report.refused_rows += int(problems["line"].nunique())
        self.report.problems += len(problems)
        if self.in_order:
            self._write(problems)
        else:
            self.waiting.append(problems.set_axis(range(problems.shape[1]), axis=1))

    def _write(self, problems: pd.DataFrame) -> None:
        problems = problems.sort_values(problems.columns[0], kind="stable")
        if self.handle is not None:
            problems.to_csv(self.handle, header=False, index=False)
        room = KEEP_REFUSALS - len(self.report.refusals)
        if room > 0:
            for row in problems.head(room).itertuples(index=False):
                values = list(row)
                self.report.refusals.append(Refusal(
                    int(values[0]), str(values[1]), str(values[2]),
                    {c: _quote(str(v)) for c, v in zip(self.columns, values[3:], strict=True)}))

    def close(self) -> None:
        if self.waiting:
            self._write(pd.concat(self.waiting, ignore_index=True))
            self.waiting = []
        if self.handle is not None:
            self.handle.close()


# -- reading the rows ---------------------------------------------------------------------------


@dataclass
class _Chunk:
    frame: pd.DataFrame  # the file's columns, by position, as stripped strings; blank lines dropped
    lines: np.ndarray  # each row's line number in the file
    bytes_read: int
    skipped: list[tuple[int, int]]  # (line, fields) of lines with more fields than the header


def _chunks(path: Path, header: CsvHeader, chunk_rows: int) -> Iterator[_Chunk]:
    """The data lines in chunks of at most ``chunk_rows``, with their line numbers. Lines with
    more fields than the header are refused (a value holding the delimiter without quotes would
    otherwise shift the columns).

    The parser reports those lines as warnings, caught around each read only (the caller's own
    warnings pass untouched); ``warnings.catch_warnings`` is process-wide, which is why imports
    run in the CLI and the workers, not in web threads."""
    width = len(header.columns)
    # Lines the parser skipped, shifted so that row k of what it returns is line
    # k + 2 + (how many of these are <= k).
    shifted: list[int] = []
    kept = 0
    with path.open("rb") as handle:
        reader = pd.read_csv(
            handle, sep=header.delimiter, header=None, names=range(width), skiprows=1, dtype=str,
            keep_default_na=False, na_filter=False, skip_blank_lines=False, on_bad_lines="warn",
            encoding="utf-8-sig", encoding_errors="replace", chunksize=chunk_rows, engine="c",
            skipinitialspace=True,
        )
        with reader:
            while True:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", pd.errors.ParserWarning)
                    frame = next(reader, None)
                skipped = _skipped_lines(caught)
                for line, _ in skipped:
                    shifted.append(line - len(shifted) - 2)
                if frame is None:
                    if skipped:
                        yield _Chunk(pd.DataFrame(columns=range(width), dtype=str),
                                     np.empty(0, dtype=np.int64), handle.tell(), skipped)
                    return
                positions = np.arange(kept, kept + len(frame))
                lines = positions + 2 + np.searchsorted(np.asarray(shifted, dtype=np.int64),
                                                        positions, side="right")
                kept += len(frame)
                frame = frame.fillna("")
                blank = (frame == "").all(axis=1).to_numpy()
                if blank.any():
                    frame, lines = frame.loc[~blank], lines[~blank]
                yield _Chunk(frame.reset_index(drop=True), lines, handle.tell(), skipped)


def _skipped_lines(caught: list[warnings.WarningMessage]) -> list[tuple[int, int]]:
    """(line, fields) of each line the parser skipped; any other warning is passed on."""
    found = []
    for warning in caught:
        matches = list(_SKIPPED.finditer(str(warning.message)))
        if not matches:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        found.extend((int(m.group(1)), int(m.group(2))) for m in matches)
    return sorted(found)


class _Checks:
    """The problems found in one chunk: per check, the rows it refuses, the column and the
    message: one for all, one per row (a Series), or a function of the refused rows' text in
    that column, called only when there are some (the happy path builds no strings)."""

    def __init__(self, chunk: _Chunk, header: CsvHeader) -> None:
        self.chunk = chunk
        self.header = header
        self.found: list[tuple[np.ndarray, int, Any]] = []

    def add(self, mask: np.ndarray | pd.Series, column: int, message: Any) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        mask = mask & ~self.bad_in(column)  # one problem a field is enough
        if mask.any():
            self.found.append((mask, column, message))

    def bad_in(self, column: int) -> np.ndarray:
        out = np.zeros(len(self.chunk.frame), dtype=bool)
        for mask, where, _ in self.found:
            if where == column:
                out |= mask
        return out

    def refused(self) -> np.ndarray:
        out = np.zeros(len(self.chunk.frame), dtype=bool)
        for mask, _, _ in self.found:
            out |= mask
        return out

    def frame(self) -> pd.DataFrame:
        """line, field, message and the line's values, for every problem."""
        pieces = []
        raw = self.chunk.frame
        width = len(self.header.columns)
        if self.chunk.skipped:
            shown = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a bar"}[self.header.delimiter]
            pieces.append(pd.DataFrame(
                [[line, WHOLE_LINE, f"has {fields} fields where the header has {width}: a value "
                  f"that holds {shown} must be in double quotes", *([""] * width)]
                 for line, fields in self.chunk.skipped],
                columns=["line", "field", "message", *range(width)]))
        for mask, column, message in self.found:
            rows = raw.loc[mask]
            if callable(message):
                text = np.asarray(message(rows[column]), dtype=object)
            elif isinstance(message, pd.Series):
                text = message.loc[mask].astype(str).to_numpy()
            else:
                text = message
            piece = pd.DataFrame({"line": self.chunk.lines[mask], "field": self.header.columns[column],
                                  "message": text})
            pieces.append(pd.concat([piece, rows.reset_index(drop=True)], axis=1))
        return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()


def _quoted(before: str = "", after: str = "") -> Callable[[pd.Series], pd.Series]:
    """A message quoting each refused value: ``before 'value' after``."""
    return lambda text: before + "'" + text.map(_quote) + "'" + after


def _numbers(text: pd.Series) -> np.ndarray:
    """Text -> float64, NaN where it is not a number. Straight through numpy when every value
    is one (ten times faster than ``pd.to_numeric``), which is the usual case."""
    try:
        return text.to_numpy(dtype=object).astype(np.float64)
    except (TypeError, ValueError):
        return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)


def _ids(checks: _Checks, column: int, known: np.ndarray, what: str,
         supplier: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows that give an id in ``column``, and each row's id (-1 unless it is one of ``known``:
    another supplier's is refused exactly as one that does not exist)."""
    text = checks.chunk.frame[column]
    given = (text != "").to_numpy()
    number = _numbers(text)
    whole = given & np.isfinite(number) & (number == np.round(number)) & (np.abs(number) < 2**62)
    checks.add(given & ~whole, column, _quoted(after=f" is not a {what} id (a whole number)"))
    candidate = np.where(whole, number, -1).astype(np.int64)
    found = whole & np.isin(candidate, known)
    checks.add(whole & ~found, column, _quoted(f"no {what} with id ", f" at {supplier}"))
    return given, np.where(found, candidate, -1)


def _check_text(checks: _Checks, positions: Mapping[str, int]) -> None:
    """Fields too long to be read, or holding bytes that were not UTF-8 (for files whose text
    is stored: the meters'; a sensor file's fields are numbers, times and names, which refuse
    such values anyway)."""
    frame = checks.chunk.frame
    for column in sorted(set(positions.values())):
        lengths = frame[column].str.len()
        checks.add((lengths > MAX_FIELD_CHARS).to_numpy(), column,
                   lambda text: text.str.len().map(lambda n: f"is {n:,} characters long: at most "
                                                             f"{MAX_FIELD_CHARS} are read"))
        checks.add(frame[column].str.contains("\ufffd", regex=False).to_numpy(), column,
                   "is not UTF-8 text: save the file as \"CSV UTF-8\"")


def _parse_naive(text: pd.Series) -> pd.Series:
    naive = pd.to_datetime(text, format="ISO8601", errors="coerce")
    for form in _DAYFIRST:
        todo = naive.isna() & text.notna() & text.str.contains("/", regex=False).fillna(False)
        if not todo.any():
            break
        naive = naive.where(~todo, pd.to_datetime(text.where(todo), format=form, errors="coerce"))
    return naive.astype("datetime64[us]")


def parse_times(text: pd.Series, tz: str, *, earliest: pd.Timestamp | None = EARLIEST,
                latest: pd.Timestamp | None = None) -> tuple[pd.Series, pd.Series]:
    """Times as written -> (UTC instants, problems): an instant where the text is a time,
    otherwise NaT and a message saying why not.

    With an offset (``Z``, ``+01:00``) a time is that instant; without one it is a clock time in
    ``tz``, refused when the clocks make it ambiguous or impossible there."""
    text = text.astype(str).reset_index(drop=True)
    count = len(text)
    empty = (text.str.strip() == "").to_numpy() if count else np.zeros(0, dtype=bool)
    try:
        # One parse tells the usual files apart: all clock times (naive), or all with the same
        # offset. A mix raises, and is split by pattern below.
        first = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:
        first = None
    if first is not None and first.dt.tz is None:
        offset = np.zeros(count, dtype=bool)
    elif first is not None:
        offset = first.notna().to_numpy()
    else:
        offset = text.str.strip().str.contains(_OFFSET, regex=True).to_numpy() & ~empty
    if offset.any():
        aware = (first.dt.tz_convert("UTC") if first is not None and first.dt.tz is not None else
                 pd.to_datetime(text.where(offset), format="ISO8601", utc=True, errors="coerce"))
        aware = aware.astype("datetime64[us, UTC]")
    else:
        aware = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if first is not None and first.dt.tz is None:
        naive = first.astype("datetime64[us]")
        if naive.isna().any():
            naive = naive.where(naive.notna(), _parse_naive(text.where(naive.isna() & ~empty)))
    else:
        naive = _parse_naive(text.where(~offset & ~empty))
    if tz.upper() == "UTC":
        local = naive.dt.tz_localize("UTC")
        ambiguous = nonexistent = np.zeros(count, dtype=bool)
    else:
        summer = naive.dt.tz_localize(tz, ambiguous=np.ones(count, dtype=bool), nonexistent="NaT")
        winter = naive.dt.tz_localize(tz, ambiguous=np.zeros(count, dtype=bool), nonexistent="NaT")
        ambiguous = (summer.notna() & winter.notna() & (summer != winter)).to_numpy()
        nonexistent = (naive.notna() & summer.isna()).to_numpy()
        local = summer.where(~ambiguous)
    instants = aware.where(offset, local.dt.tz_convert("UTC").astype("datetime64[us, UTC]"))
    problems = pd.Series(np.full(count, None, dtype=object), index=text.index)
    known = instants.notna().to_numpy()
    if known.all():
        bad_bounds = (earliest is not None and instants.min() < earliest) or (
            latest is not None and instants.max() > latest)
        if not bad_bounds:
            return instants, problems
    unreadable = ~known & ~empty & ~ambiguous & ~nonexistent
    problems[empty] = "is empty: give the date and time"
    problems[unreadable] = _quoted(after=" is not a date and time: write e.g. 2024-10-01T13:45:00+01:00, "
                                   "2024-10-01 13:45 or 01/10/2024 13:45")(text[unreadable])
    clock = naive.dt.strftime("%Y-%m-%d %H:%M").astype(object)
    problems[ambiguous] = clock[ambiguous] + (f" happens twice in {tz} (the clocks go back): give its "
                                              "offset, +01:00 for the first time or +00:00 for the second")
    problems[nonexistent] = clock[nonexistent] + (f" does not exist in {tz} (the clocks go forward): "
                                                  "check it, or give its offset")
    if earliest is not None:
        early = known & (instants < earliest).to_numpy()
        problems[early] = _quoted(after=f" is before {earliest:%Y}: check the year")(text[early])
        instants = instants.where(~early)
    if latest is not None:
        future = known & (instants > latest).to_numpy()
        problems[future] = _quoted(after=" is in the future")(text[future])
        instants = instants.where(~future)
    return instants, problems


def check_tz(tz: str) -> str:
    """``tz`` if it names a time zone (``UTC``, ``Europe/London``...); :class:`ImportFileError`
    otherwise."""
    if tz.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportFileError(f"unknown time zone {tz!r}: use e.g. Europe/London or UTC") from None
    return tz


def _start(kind: str, path: Path, tz: str, mapping: Mapping[str, str | None] | None,
           refused_path: Path | None) -> tuple[CsvHeader, dict[str, int], ImportReport, _Refused]:
    tz = check_tz(tz)
    header = read_header(path)
    chosen = resolve_mapping(kind, header.columns, mapping)
    positions = {name: header.columns.index(column) for name, column in chosen.items()}
    report = ImportReport(kind=kind, tz=tz, mapping=chosen)
    return header, positions, report, _Refused(report, header.columns, refused_path,
                                               in_order=kind == "sensors")


# -- sensor readings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _SensorDirectory:
    """The supplier's sensors: ids, and ids by (asset, sensor) and (site, asset, sensor) names
    compared case-insensitively (-1 where a name pair is on several sites)."""

    supplier: str
    ids: np.ndarray
    by_pair: dict[str, int]
    by_triple: dict[str, int]
    assets: dict[str, list[str]]  # asset name (folded) -> its sensors' names
    asset_sites: dict[str, list[str]]  # asset name (folded) -> the sites that have one

    @classmethod
    def load(cls, db: Database, supplier_id: int) -> _SensorDirectory:
        from app.db.models import Supplier

        with db.Session() as session:
            supplier = session.get(Supplier, supplier_id)
            if supplier is None:
                raise ImportFileError(f"no supplier with id {supplier_id}")
            rows = session.execute(
                select(Sensor.id, Sensor.name, Asset.name, Site.name)
                .join(Asset, Asset.id == Sensor.asset_id).join(Site, Site.id == Asset.site_id)
                .where(Site.supplier_id == supplier_id)
            ).all()
        by_pair: dict[str, int] = {}
        by_triple: dict[str, int] = {}
        assets: dict[str, list[str]] = {}
        asset_sites: dict[str, list[str]] = {}
        for sensor_id, sensor, asset, site in rows:
            pair = _key(asset, sensor)
            by_pair[pair] = -1 if pair in by_pair else sensor_id
            by_triple[_key(site, asset, sensor)] = sensor_id
            assets.setdefault(_fold(asset), []).append(sensor)
            sites = asset_sites.setdefault(_fold(asset), [])
            if site not in sites:
                sites.append(site)
        return cls(supplier.name, np.array(sorted(r[0] for r in rows), dtype=np.int64), by_pair,
                   by_triple, assets, asset_sites)

    def name_problem(self, key: str, written: tuple[str, ...]) -> str:
        """Why the folded names ``key`` find no sensor, quoting them as ``written`` in the file
        ((site,) asset, sensor)."""
        parts = key.split("\x1f")
        asset = parts[-2]
        shown = [f"'{_quote(w, 60)}'" for w in written]
        if asset not in self.assets:
            return f"{self.supplier} has no asset named {shown[-2]}"
        if len(parts) == 2 and self.by_pair.get(key) == -1:
            sites = ", ".join(self.asset_sites[asset])
            return f"assets named {shown[-2]} are on several sites ({sites}): add a site column to say which"
        if len(parts) == 3 and parts[0] not in {_fold(s) for s in self.asset_sites[asset]}:
            return f"no asset {shown[-2]} on a site named {shown[0]}"
        names = ", ".join(sorted(set(self.assets[asset])))
        return f"asset {shown[-2]} has no sensor {shown[-1]} (its sensors: {names})"


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _key(*names: str) -> str:
    return "\x1f".join(_fold(n) for n in names)


def _fold_column(column: pd.Series) -> pd.Series:
    return column.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()


def _resolve_sensors(checks: _Checks, positions: Mapping[str, int],
                     directory: _SensorDirectory) -> np.ndarray:
    """Each row's sensor id (-1 where refused), from its id or its asset and sensor names."""
    frame = checks.chunk.frame
    count = len(frame)
    ids = np.full(count, -1, dtype=np.int64)
    given = np.zeros(count, dtype=bool)
    if "sensor_id" in positions:
        given, ids = _ids(checks, positions["sensor_id"], directory.ids, "sensor", directory.supplier)
    named = np.zeros(count, dtype=bool)
    if {"asset", "sensor"} <= positions.keys():
        asset, sensor = frame[positions["asset"]], frame[positions["sensor"]]
        named = ((asset != "") & (sensor != "")).to_numpy()
        keys = _fold_column(asset) + "\x1f" + _fold_column(sensor)
        lookup = directory.by_pair
        if "site" in positions:
            site = frame[positions["site"]]
            with_site = (site != "").to_numpy()
            keys = keys.where(~with_site, _fold_column(site) + "\x1f" + keys)
            lookup = {**directory.by_pair, **directory.by_triple}
        found = keys.map(lookup).fillna(-1).to_numpy(dtype=np.int64)
        unknown = named & (found < 0) & ~given
        if unknown.any():
            messages = {}
            first = frame.loc[unknown].assign(key=keys[unknown]).drop_duplicates("key")
            for _, row in first.iterrows():  # one message per distinct unknown name
                site = (row[positions["site"]],) if row["key"].count("\x1f") == 2 else ()
                written = (*site, row[positions["asset"]], row[positions["sensor"]])
                messages[row["key"]] = directory.name_problem(row["key"], written)
            checks.add(unknown, positions["sensor"], keys.map(messages))
        if "sensor_id" in positions:
            checks.add(named & given & (ids >= 0) & (found != ids), positions["sensor"],
                       _quoted("asset and sensor ", " are not sensor id given on this line: leave "
                               "one of them empty, or correct it"))
        ids = np.where(given, ids, np.where(named & (found >= 0), found, -1))
    nothing = ~given & ~named
    if nothing.any():
        column = positions.get("sensor_id", positions.get("sensor", positions.get("asset", 0)))
        checks.add(nothing, column, "names no sensor: give its id, or its asset and sensor names")
    return ids


def _parse_values(checks: _Checks, column: int) -> np.ndarray:
    text = checks.chunk.frame[column]
    values = _numbers(text)
    bad = ~np.isfinite(values)
    if bad.any():
        empty = (text.str.strip() == "").to_numpy()
        checks.add(empty, column, "is empty: give the reading")
        literal = text.str.strip().str.casefold().isin(_NOT_FINITE).to_numpy()
        checks.add(bad & ~empty & (literal | ~np.isnan(values)), column,
                   _quoted(after=" is not a finite number"))
        checks.add(bad & ~empty & ~literal & np.isnan(values), column,
                   _quoted(after=" is not a number (a point for decimals, no thousands "
                           "separators or units)"))
    return values


def _check_times(checks: _Checks, column: int, tz: str,
                 latest: pd.Timestamp | None) -> pd.Series:
    instants, problems = parse_times(checks.chunk.frame[column], tz, latest=latest)
    checks.add(problems.notna().to_numpy(), column, problems)
    return instants


def import_sensors(
    db: Database,
    path: Path,
    *,
    supplier_id: int,
    tz: str = DEFAULT_TZ,
    mapping: Mapping[str, str | None] | None = None,
    chunk_rows: int = 100_000,
    refused_path: Path | None = None,
    progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import the sensor readings of the CSV file ``path`` for supplier ``supplier_id``.

    Each chunk of ``chunk_rows`` lines is checked at once and its valid rows are stored through
    the bulk path (committed chunk by chunk: an interrupted import is completed by running it
    again). Raises :class:`ImportFileError` when the file cannot be read at all.
    """
    started = time.monotonic()
    header, positions, report, refused = _start("sensors", path, tz, mapping, refused_path)
    directory = _SensorDirectory.load(db, supplier_id)
    latest = pd.Timestamp(now or datetime.now(timezone.utc)) + FUTURE_GRACE
    sensors: set[int] = set()
    earliest: pd.Timestamp | None = None
    try:
        for chunk in _chunks(path, header, chunk_rows):
            checks = _Checks(chunk, header)
            ids = _resolve_sensors(checks, positions, directory)
            instants = _check_times(checks, positions["ts"], report.tz, latest)
            values = _parse_values(checks, positions["value"])
            refused.add(checks.frame())
            good = ~checks.refused()
            report.lines += len(chunk.frame) + len(chunk.skipped)
            if good.any():
                readings = pd.DataFrame({"sensor_id": ids[good], "ts": instants.array[good],
                                         "value": values[good]})
                written = write_sensor_readings(db.sensors_engine, readings,
                                                chunk_rows=max(chunk_rows, len(readings))).rows
                report.stored += written
                report.repeated += int(good.sum()) - written
                sensors.update(np.unique(ids[good]).tolist())
                first = readings["ts"].min()
                earliest = first if earliest is None else min(earliest, first)
            if progress is not None:
                progress(Progress(report.lines, min(chunk.bytes_read, header.size), header.size, "bytes"))
    finally:
        refused.close()
    if sensors:
        # Long-range plots read hourly rollups: bring the imported hours (a back-fill among
        # them) up to date now rather than at the pipeline's next run.
        refresh_rollups(db, sorted(sensors), since=earliest.to_pydatetime())
        report.intervals = _detect_intervals(db, sorted(sensors))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _detect_intervals(db: Database, sensor_ids: list[int]) -> dict[str, int]:
    """Learn the reporting interval of each imported sensor that has none set."""
    from app.plant.catalogue import fill_detected_intervals

    with db.Session() as session, session.begin():
        found = fill_detected_intervals(session, sensor_ids, db.sensors_engine)
        names = dict(session.execute(select(Sensor.id, Asset.name + " / " + Sensor.name)
                                     .join(Asset, Asset.id == Sensor.asset_id)
                                     .where(Sensor.id.in_(list(found) or [-1]))).all())
    return {names[sensor_id]: seconds for sensor_id, seconds in found.items()}


# -- meter readings -----------------------------------------------------------------------------


def _meter_directory(db: Database, supplier_id: int) -> tuple[np.ndarray, dict[str, int], dict[str, int], str]:
    from app.db.models import Supplier

    with db.Session() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None:
            raise ImportFileError(f"no supplier with id {supplier_id}")
        rows = session.execute(select(Meter.id, Meter.serial).where(Meter.supplier_id == supplier_id)).all()
    exact = {serial.strip(): meter_id for meter_id, serial in rows}
    folded: dict[str, int] = {}
    for meter_id, serial in rows:
        key = _fold(serial)
        folded[key] = -1 if key in folded else meter_id
    return np.array(sorted(exact.values()), dtype=np.int64), exact, folded, supplier.name


def _resolve_meters(checks: _Checks, positions: Mapping[str, int], ids_known: np.ndarray,
                    exact: dict[str, int], folded: dict[str, int], supplier: str) -> np.ndarray:
    frame = checks.chunk.frame
    count = len(frame)
    ids = np.full(count, -1, dtype=np.int64)
    given = np.zeros(count, dtype=bool)
    if "meter_id" in positions:
        given, ids = _ids(checks, positions["meter_id"], ids_known, "meter", supplier)
    serial_given = np.zeros(count, dtype=bool)
    if "serial" in positions:
        column = positions["serial"]
        text = frame[column]
        serial_given = (text != "").to_numpy()
        found = text.map(exact)
        found = found.fillna(_fold_column(text).map(folded)).fillna(-1).to_numpy(dtype=np.int64)
        by_serial = serial_given & ~given
        checks.add(by_serial & (found < 0), column, _quoted(f"{supplier} has no meter with serial "))
        checks.add(serial_given & given & (ids >= 0) & (found != ids), column,
                   _quoted(after=" is not the serial of the meter id given on this line"))
        ids = np.where(given, ids, np.where(by_serial & (found >= 0), found, -1))
    nothing = ~given & ~serial_given
    checks.add(nothing, positions.get("serial", positions.get("meter_id", 0)),
               "names no meter: give its serial number")
    return ids


def _parse_kinds(checks: _Checks, positions: Mapping[str, int]) -> pd.Series:
    count = len(checks.chunk.frame)
    if "kind" not in positions:
        return pd.Series(["actual"] * count)
    text = checks.chunk.frame[positions["kind"]]
    kinds = text.str.strip().str.casefold().map(_KIND_VALUES)
    checks.add(kinds.isna().to_numpy(), positions["kind"],
               _quoted(after=" is not a kind of reading: actual (A) or estimated (E)"))
    return kinds


#: Which column each rule of app.readings speaks of.
_PROBLEM_FIELD = {"future": "read_at", "before_previous": "read_at", "duplicate_time": "read_at",
                  "outside_open_period": "read_at", "no_tariff": "read_at",
                  "reason_required": "value"}


def import_meters(
    db: Database,
    path: Path,
    *,
    supplier_id: int,
    tariff_settings: TariffSettings,
    user_id: int | None = None,
    role: str = "admin",
    tz: str = DEFAULT_TZ,
    mapping: Mapping[str, str | None] | None = None,
    chunk_rows: int = 100_000,
    refused_path: Path | None = None,
    progress: ProgressFn | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import the meter readings of the CSV file ``path`` for supplier ``supplier_id``.

    Every reading is saved by :func:`app.readings.save_reading` with ``source="import"`` (the
    rules of the portal's modal, an audit row each), meter by meter in time order whatever the
    file's order. A warning (lower than the previous reading, no advance, unusually high) is
    accepted only when the line gives a reason. Raises :class:`ImportFileError` when the file
    cannot be read at all, :class:`PermissionError` for a viewer.
    """
    if role not in ("operator", "admin"):
        raise PermissionError("viewers cannot enter readings")
    started = time.monotonic()
    header, positions, report, refused = _start("meters", path, tz, mapping, refused_path)
    ids_known, exact, folded, supplier = _meter_directory(db, supplier_id)
    pieces: list[pd.DataFrame] = []
    try:
        for chunk in _chunks(path, header, chunk_rows):
            checks = _Checks(chunk, header)
            _check_text(checks, positions)
            meter_ids = _resolve_meters(checks, positions, ids_known, exact, folded, supplier)
            instants = _check_times(checks, positions["read_at"], report.tz, None)
            kinds = _parse_kinds(checks, positions)
            refused.add(checks.frame())
            report.lines += len(chunk.frame) + len(chunk.skipped)
            good = ~checks.refused()
            frame = chunk.frame
            pieces.append(pd.DataFrame({
                "line": chunk.lines[good],
                "meter_id": meter_ids[good],
                "read_at": instants[good].to_numpy(),
                "value": frame.loc[good, positions["value"]].to_numpy(),
                "kind": kinds[good].to_numpy(),
                "reason": (frame.loc[good, positions["reason"]].to_numpy() if "reason" in positions
                           else np.full(int(good.sum()), "", dtype=object)),
                "raw": [list(r) for r in frame.loc[good].itertuples(index=False)],
            }))
        rows = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
        if not rows.empty:
            rows = rows.sort_values(["meter_id", "read_at", "line"], kind="stable", ignore_index=True)
            _save_meter_readings(db, rows, report, refused, header, positions, supplier_id=supplier_id,
                                 user_id=user_id, role=role, tariff_settings=tariff_settings, now=now,
                                 progress=progress)
    finally:
        refused.close()
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _save_meter_readings(db: Database, rows: pd.DataFrame, report: ImportReport, refused: _Refused,
                         header: CsvHeader, positions: Mapping[str, int], *, supplier_id: int,
                         user_id: int | None, role: str, tariff_settings: TariffSettings,
                         now: datetime | None, progress: ProgressFn | None) -> None:
    total = len(rows)
    column_of = {name: header.columns[position] for name, position in positions.items()}
    with db.Session() as session:
        for start in range(0, total, METER_COMMIT_ROWS):
            problems: list[list[Any]] = []
            with session.begin():
                for row in rows.iloc[start:start + METER_COMMIT_ROWS].itertuples(index=False):
                    try:
                        with session.begin_nested():
                            saved = save_reading(
                                session, supplier_id=supplier_id, user_id=user_id, role=role,
                                meter_id=int(row.meter_id), value_text=row.value,
                                read_at=pd.Timestamp(row.read_at).to_pydatetime(),
                                tariff_settings=tariff_settings, kind=row.kind, source="import",
                                reason=row.reason or None, now=now)
                    except ReadingRefused as exc:
                        for problem in exc.problems:
                            where = column_of.get(_PROBLEM_FIELD.get(problem.code, "value"),
                                                  column_of["value"])
                            problems.append([int(row.line), where, problem.message, *row.raw])
                        continue
                    except MeterNotFound:  # removed since the file was read
                        problems.append([int(row.line), column_of.get("serial", column_of.get("meter_id")),
                                         "no such meter", *row.raw])
                        continue
                    if saved.duplicate:
                        report.already_stored += 1
                    else:
                        report.stored += 1
            refused.add(pd.DataFrame(problems, columns=[*REFUSED_COLUMNS, *header.columns]))
            if progress is not None:
                done = min(start + METER_COMMIT_ROWS, total)
                progress(Progress(report.lines, done, total, "rows"))
