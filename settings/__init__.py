"""Energy Twin settings: one JSON file, validated once, overridden by ``TWIN_*`` variables.

Every tunable lives in ``settings/settings.json`` (or the file named by ``TWIN_SETTINGS_FILE``).
The environment overrides a fixed set of keys (see ``ENV_OVERRIDES``), so deployments never have to
edit the file. Loading fails with a :class:`SettingsError` whose message is one line naming the key
and how to fix it; callers (the CLI, ``create_app``) print that line and exit non-zero.
"""

from __future__ import annotations

import json
import os
import secrets
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("settings.json")

#: environment variable -> dotted settings key. Anything not listed here is not read from the
#: environment, so a typo in a variable name cannot silently change behaviour.
ENV_OVERRIDES: dict[str, str] = {
    "TWIN_HOME": "home",
    "TWIN_DEMO": "demo",
    "TWIN_SECRET_KEY": "secret_key",
    "TWIN_DATABASE_URL": "database.url",
    "TWIN_SENSORS_DATABASE_URL": "database.sensors_url",
    "TWIN_BROKER_URL": "broker.url",
    "TWIN_RESULT_BACKEND": "broker.result_backend",
    "TWIN_LOG_FILE": "logging.file",
    "TWIN_LOG_LEVEL": "logging.level",
    "TWIN_SMTP_URL": "smtp.url",
    "TWIN_MODELS_DIR": "models_dir",
    "TWIN_WEB_HOST": "web.host",
    "TWIN_WEB_PORT": "web.port",
    "TWIN_SESSION_COOKIE_SECURE": "web.session_cookie_secure",
    "TWIN_SCHEDULE_FILE": "pipeline.schedule_file",
}


class SettingsError(Exception):
    """A settings problem a person can fix; ``str()`` is one actionable line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str | None = None
    sensors_url: str | None = None
    pool_size: int = Field(5, ge=1, le=100)
    pool_recycle_s: int = Field(1800, ge=0)
    sqlite_busy_timeout_ms: int = Field(30000, ge=0)
    echo: bool = False


class BrokerSettings(_Section):
    url: str | None = None
    result_backend: str | None = None
    heartbeat_interval_s: int = Field(30, ge=1)
    visibility_timeout_s: int = Field(3600, ge=1)


class LoggingSettings(_Section):
    file: str = "twin_logs.txt"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    backup_count: int = Field(5, ge=0)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class WebSettings(_Section):
    """The portal's server. ``session_cookie_secure``: the portal is served over HTTPS (cookies
    marked Secure, and Strict-Transport-Security sent). ``login_rate_limit``: sign-in attempts
    per client address (a Flask-Limiter string; the per-account lockout comes on top).
    ``rate_limit_storage``: where rate-limit counters live, for the login and the API
    (``memory://`` for one web process, a ``redis://`` URL when several share the load)."""

    host: str = "127.0.0.1"
    port: int = Field(8050, ge=1, le=65535)
    threads: int = Field(8, ge=1, le=256)
    session_cookie_secure: bool = False
    max_content_length: int = Field(16 * 1024 * 1024, ge=1024)
    login_rate_limit: str = "20 per minute"
    rate_limit_storage: str = "memory://"


class SmtpSettings(_Section):
    """Outgoing mail. ``url`` is ``smtp://[user:password@]host[:port]`` (plain, upgraded with
    ``?starttls=1``), ``smtp+starttls://...`` or ``smtps://...`` (TLS from the start); with none,
    messages are written to ``outbox_dir`` as ``.eml`` files."""

    url: str | None = None
    from_address: str = "Energy Twin <no-reply@energytwin.local>"
    outbox_dir: str = "outbox"
    timeout_s: int = Field(30, ge=1)
    max_attempts: int = Field(6, ge=1, le=50)
    retry_backoff_s: float = Field(30.0, gt=0)
    retry_backoff_max_s: float = Field(1800.0, gt=0)


class MailSettings(_Section):
    """What is emailed, and when. ``monthly_summary_cron`` is a five-field crontab (UTC)."""

    monthly_summary_cron: str = "0 7 1 * *"
    alert_check_interval_s: int = Field(60, ge=5)
    alert_digest_after: int = Field(3, ge=1)

    @field_validator("monthly_summary_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("needs five fields: minute hour day month weekday, e.g. '0 7 1 * *'")
        return value


class TariffSettings(_Section):
    domestic_vat_rate: Decimal = Field(Decimal("0.05"), ge=0, le=1)
    gas_calorific_value_mj_per_m3: Decimal = Field(Decimal("39.5"), gt=0)
    gas_volume_correction: Decimal = Field(Decimal("1.02264"), gt=0)


class IngestSettings(_Section):
    chunk_rows: int = Field(100_000, ge=100, le=5_000_000)


class PipelineSettings(_Section):
    #: how much time one batch of the pipeline spans, in seconds (each sensor at its own
    #: cadence: 28 days hold 1,344 half-hourly readings or 40,320 one-minute ones; never more
    #: than 500,000 readings of the asset's fastest sensor, see app.pipeline.batch_span)
    batch_seconds: int = Field(28 * 86_400, ge=60, le=366 * 86_400)
    horizon_minutes: int = Field(60, ge=1)
    #: usable points of the target a model needs before its backtest period
    min_training_rows: int = Field(500, ge=10)
    resample_minutes: int = Field(10, ge=1, le=1440)
    #: the history a model is fitted and backtested on (weekly lags need three weeks)
    training_days: int = Field(91, ge=1)
    #: the schedule file; the packaged prediction_models/prediction_schedule.json when unset
    schedule_file: Path | None = None


class ModelSettings(_Section):
    """How targets are forecast (see app/forecasting/engine.py). Every candidate and the
    baselines are backtested at the served horizons; the best serves."""

    #: the candidate models, each a scikit-learn estimator per horizon step (direct strategy)
    candidates: tuple[Literal["gbm", "ridge"], ...] = ("gbm", "ridge")
    #: the nominal coverage of the prediction intervals (split-conformal, per horizon)
    interval_coverage: float = Field(0.9, gt=0.5, lt=1)
    #: the newest share of the history that the rolling-origin backtest scores
    backtest_fraction: float = Field(0.25, ge=0.1, le=0.5)
    #: fit on at most this many (newest) origins per horizon: a year of a fast sensor stays quick
    max_fit_rows: int = Field(60_000, ge=1000)
    #: gaps of at most this many steps are interpolated; longer ones are left out
    max_gap_steps: int = Field(3, ge=0, le=100)
    #: the clock and bank holidays of the calendar features (the holidays package's codes)
    timezone: str = "Europe/London"
    holidays_country: str = "GB"
    holidays_subdiv: str | None = "ENG"
    #: versions whose files are kept besides the active one and those with stored forecasts
    keep_versions: int = Field(3, ge=1)
    #: also try each forecast with the asset's other sensors as lagged inputs (their values at
    #: the origin and their last change), served only if that beats the backtest without them;
    #: doubles the training time
    exogenous_sensors: bool = False


class ThresholdSettings(_Section):
    """When a served model's forecasts, judged against what happened, call for retraining."""

    #: forecast/actual pairs a validation needs before it judges (fewer: it waits)
    min_validation_points: int = Field(24, ge=3)
    #: retrain when the validated MAE is above this multiple of the backtest MAE (a gross
    #: failure; milder drift shows in the coverage test, which allows for chance)
    degradation_ratio: float = Field(2.5, gt=1)
    #: retrain when a one-sided binomial test says coverage is below nominal at this level
    coverage_alpha: float = Field(0.01, gt=0, lt=0.5)


class SensorLimits(_Section):
    """Static limits of one sensor of an asset type (``anomaly.static[type][sensor]``). Which of
    them are checked is the asset type's choice (its ``anomaly_rules``, see app/twins/rules.py)."""

    #: a reading below ``low`` or above ``high`` breaks the limit
    low: float | None = None
    high: float | None = None
    #: a reading further than this from the asset's setpoint parameter breaks the limit
    setpoint_band: float | None = Field(None, gt=0)
    #: a reading at or below ``at_most``... (with ``for_minutes``: for that long or longer)
    at_most: float | None = None
    #: the downstream flow short of the upstream one (or a store losing, through no meter,
    #: water its meters account for) by more than this fraction of the flow: a leak
    imbalance: float | None = Field(None, gt=0, lt=1)
    #: a reading further than this below (or above) what the type's physics expects of it
    deviation: float | None = Field(None, gt=0)
    #: a limit counts only when broken this long without a break (0: any one reading)
    for_minutes: float = Field(0.0, ge=0)


def _default_static() -> dict[str, dict[str, SensorLimits]]:
    limits: dict[str, dict[str, dict[str, float]]] = {
        "water_dispenser": {"temperature": {"setpoint_band": 2.0}, "level": {"low": 0.2},
                            "power": {"high": 0.04}, "flow": {"at_most": 0.001, "for_minutes": 5}},
        "pipeline": {"outlet_flow": {"imbalance": 0.05, "for_minutes": 10},
                     "inlet_flow": {"high": 45.0, "for_minutes": 5}},
        "pressure_tank": {"level": {"imbalance": 0.05, "for_minutes": 30},
                          "outflow": {"high": 22.0, "for_minutes": 5},
                          "pressure": {"deviation": 0.05, "for_minutes": 5},
                          "inflow": {"deviation": 0.5, "for_minutes": 5}},
        "boiler": {"pressure": {"deviation": 0.08, "for_minutes": 5},
                   "flue_temperature": {"deviation": 4.0, "for_minutes": 5},
                   "fuel_flow": {"high": 50.0, "for_minutes": 10}},
        "drivetrain": {"torque": {"high": 3000.0, "for_minutes": 5}},
    }
    return {kind: {sensor: SensorLimits(**values) for sensor, values in sensors.items()}
            for kind, sensors in limits.items()}


class ResidualSettings(_Section):
    """Model-based detection (app/expectations.py, app/changes.py): each sensor against what the
    twin expects of it, watched by a CUSUM.

    The expectation of a sensor is fitted each UTC day on the ``reference_days`` before it
    (nothing is judged with less than ``min_reference_days`` of history): by time of day
    (``harmonics`` daily harmonics, weekdays apart from weekends) and, for the consistency check,
    the asset's other sensors and its physics. Residuals are averaged over ``block_minutes``
    and standardised by the reference's spread (never below ``min_sigma_fraction`` of the
    sensor's normal range); the two-sided CUSUM (reference ``cusum_k`` standard deviations)
    alarms at the threshold that gives, for independent normal block means, one false alarm
    per sensor every ``false_alarm_days`` on average (Siegmund's approximation); a drift must
    also reach ``min_drift_fraction`` of the sensor's normal range to be told. Overuse: what
    the asset uses at least ``overuse_ratio`` times what it is expected to use at that time, for
    ``overuse_minutes`` or longer."""

    reference_days: float = Field(7.0, gt=0)
    min_reference_days: float = Field(2.0, gt=0)
    harmonics: int = Field(6, ge=0, le=24)
    block_minutes: float = Field(10.0, gt=0)
    cusum_k: float = Field(0.5, gt=0)
    false_alarm_days: float = Field(365.0, gt=0)
    min_sigma_fraction: float = Field(0.002, gt=0)
    min_drift_fraction: float = Field(0.02, ge=0)
    overuse_ratio: float = Field(1.05, gt=1)
    overuse_minutes: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _enough(self) -> ResidualSettings:
        if self.min_reference_days > self.reference_days:
            raise ValueError("min_reference_days must not exceed reference_days")
        return self


class AnomalySettings(_Section):
    """Anomaly detection (app/anomalies.py). ``zscore_window`` readings before each one give the
    adaptive (rolling z-score) baseline; ``zscore_threshold`` standard deviations from it is a
    spike when the readings come back within ``spike_max_minutes``. A reading that does not
    change at all for ``flat_minutes`` is a stuck sensor. Flagged readings less than
    ``merge_gap_minutes`` apart are one episode, and an episode that starts within that gap of
    an alert's end continues that alert. ``rearm_minutes``: see app/mail/requests.py.
    ``residuals``: the model-based checks (drift, overuse)."""

    zscore_window: int = Field(60, ge=2)
    zscore_threshold: float = Field(5.0, gt=0)
    rearm_minutes: int = Field(60, ge=0)
    spike_max_minutes: float = Field(5.0, gt=0)
    flat_minutes: float = Field(20.0, gt=0)
    merge_gap_minutes: float = Field(10.0, ge=0)
    static: dict[str, dict[str, SensorLimits]] = Field(default_factory=_default_static)
    residuals: ResidualSettings = ResidualSettings()

    def __hash__(self) -> int:  # the dict field has no hash of its own; Settings stays hashable
        return hash(self.model_dump_json())


class DemoDataSettings(_Section):
    seed: int = 20241001
    meters: int = Field(50, ge=2)
    meter_history_days: int = Field(365, ge=1)
    sensor_history_days: int = Field(30, ge=1)
    sensor_interval_s: int = Field(60, ge=1)


class BandSettings(_Section):
    """Where a performance metric turns from good to warning to bad (see docs/metrics.md).

    With ``higher_is_better`` a value at or above ``good`` is good, at or above ``warning`` a
    warning, and bad below; otherwise at or below ``good`` is good, at or below ``warning`` a
    warning, and bad above."""

    good: float
    warning: float
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> BandSettings:
        if self.higher_is_better and self.good < self.warning:
            raise ValueError("good must be at least warning when higher is better")
        if not self.higher_is_better and self.good > self.warning:
            raise ValueError("good must be at most warning when lower is better")
        return self


class MetricBandSettings(_Section):
    """The status band of each performance metric of ``app.metrics``, in the metric's unit
    (percentages as 0-100, kWh/L, °C, a ratio, hours, minutes)."""

    availability: BandSettings = BandSettings(good=95.0, warning=85.0)
    performance: BandSettings = BandSettings(good=90.0, warning=75.0)
    quality: BandSettings = BandSettings(good=95.0, warning=85.0)
    oee: BandSettings = BandSettings(good=85.0, warning=60.0)
    energy_per_litre: BandSettings = BandSettings(good=0.1, warning=0.15, higher_is_better=False)
    thermal_variation: BandSettings = BandSettings(good=1.0, warning=2.0, higher_is_better=False)
    non_productive: BandSettings = BandSettings(good=30.0, warning=50.0, higher_is_better=False)
    peak_flow_ratio: BandSettings = BandSettings(good=1.5, warning=2.5, higher_is_better=False)
    mtba: BandSettings = BandSettings(good=168.0, warning=24.0)
    recovery: BandSettings = BandSettings(good=15.0, warning=60.0, higher_is_better=False)


class MetricsSettings(_Section):
    """How the performance metrics read a dispenser's sensors (docs/metrics.md), and their bands.

    ``rated_flow_l_per_min`` is the ideal flow of an asset whose parameters give none;
    ``max_days`` is the longest range the asset page computes metrics over (its newest days)."""

    temperature_tolerance_c: float = Field(2.0, gt=0)
    min_level: float = Field(0.2, ge=0, le=1)
    draw_flow_l_per_min: float = Field(0.001, ge=0)
    idle_after_minutes: float = Field(30.0, gt=0)
    rated_flow_l_per_min: float = Field(2.0, gt=0)
    max_days: int = Field(31, ge=1, le=366)
    bands: MetricBandSettings = MetricBandSettings()


class WhatIfSettings(_Section):
    """What-if scenarios: runs whose longest scenario simulates more than ``inline_max_hours``
    go to the workers; energy is priced at the supplier's current tariff, or at these
    defaults (pence per kWh, VAT included) when it has none."""

    inline_max_hours: float = Field(24.0, gt=0)
    max_hours: float = Field(24.0 * 31, gt=0)
    interval_s: int = Field(60, ge=1, le=3600)
    seed: int = 7
    electricity_p_per_kwh: Decimal = Field(Decimal("24.50"), ge=0)
    gas_p_per_kwh: Decimal = Field(Decimal("6.24"), ge=0)


class ApiSettings(_Section):
    """The REST API under /api/v1: body size limit (413 above it), the per-token rate limit (a
    Flask-Limiter string such as ``"600 per minute"``; 429 above it; counters where
    ``web.rate_limit_storage`` says), how far in the future a device's clock may run, and the longest simulation a request may
    run. Batch and page sizes are part of the API's contract, in its schemas, not settings."""

    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    rate_limit: str = "1200 per minute"
    max_future_s: int = Field(300, ge=0)
    max_simulation_hours: float = Field(24.0 * 7, gt=0)


class Settings(_Section):
    """The validated settings of one process. Immutable; build a new one to change it."""

    home: Path = Path("var")
    demo: bool = False
    secret_key: str | None = None
    models_dir: Path | None = None
    database: DatabaseSettings = DatabaseSettings()
    broker: BrokerSettings = BrokerSettings()
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()
    smtp: SmtpSettings = SmtpSettings()
    mail: MailSettings = MailSettings()
    tariffs: TariffSettings = TariffSettings()
    ingest: IngestSettings = IngestSettings()
    pipeline: PipelineSettings = PipelineSettings()
    model: ModelSettings = ModelSettings()
    thresholds: ThresholdSettings = ThresholdSettings()
    anomaly: AnomalySettings = AnomalySettings()
    demo_data: DemoDataSettings = DemoDataSettings()
    metrics: MetricsSettings = MetricsSettings()
    whatif: WhatIfSettings = WhatIfSettings()
    api: ApiSettings = ApiSettings()

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    # -- derived values -------------------------------------------------------------------

    @cached_property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def database_url(self) -> str:
        """Main database; an embedded SQLite file under the data home by default."""
        return self.database.url or f"sqlite:///{self.home_dir / 'twin.db'}"

    @property
    def sensors_database_url(self) -> str:
        """The sensor source (a plant historian may be a separate, read-only database)."""
        return self.database.sensors_url or self.database_url

    @property
    def broker_url(self) -> str:
        """Celery broker; an embedded broker (kombu's SQLAlchemy transport on SQLite) by default."""
        return self.broker.url or f"sqla+sqlite:///{self.home_dir / 'broker.db'}"

    @property
    def result_backend(self) -> str:
        if self.broker.result_backend:
            return self.broker.result_backend
        if self.broker.url and self.broker.url.startswith(("redis://", "rediss://")):
            return self.broker.url
        return f"db+sqlite:///{self.home_dir / 'results.db'}"

    @property
    def embedded_broker(self) -> bool:
        return self.broker.url is None

    @property
    def log_path(self) -> Path:
        path = Path(self.logging.file).expanduser()
        return path if path.is_absolute() else self.home_dir / path

    @property
    def models_path(self) -> Path:
        """Trained model files: ``prediction_models/`` in the data home, so instances with
        different homes never overwrite each other's files (``TWIN_MODELS_DIR`` overrides)."""
        if self.models_dir is not None:
            return self.models_dir.expanduser().resolve()
        return self.home_dir / "prediction_models"

    @property
    def outbox_path(self) -> Path:
        path = Path(self.smtp.outbox_dir).expanduser()
        return path if path.is_absolute() else self.home_dir / path

    def require_secret_key(self) -> str:
        """The Flask secret. Outside demo mode it must be set; in demo mode one is kept in var/."""
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SettingsError(
                    "secret_key is shorter than 32 characters: set TWIN_SECRET_KEY to a long random "
                    "value, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
                )
            return self.secret_key
        if not self.demo:
            raise SettingsError(
                "secret_key is not set: export TWIN_SECRET_KEY (a long random value, e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`), or run in demo mode "
                "(TWIN_DEMO=1, as `make run` does)"
            )
        # Demo mode: a random key kept in the data home so sessions survive a restart, never in git.
        path = self.home_dir / "demo_secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip()


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def _env_value(raw: str) -> Any:
    # Empty means "unset": lets a deployment clear a value the file sets.
    return None if raw == "" else raw


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    env = next((name for name, dotted in ENV_OVERRIDES.items() if dotted == key), None)
    where = f" (or {env})" if env else ""
    if error["type"] == "extra_forbidden":
        return f"unknown settings key '{key}': remove it or check its spelling"
    given = error.get("input")
    shown = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
    return f"settings key '{key}'{where}: {error['msg'].lower()}{shown}"


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read, override and validate the settings.

    ``path`` defaults to ``TWIN_SETTINGS_FILE`` or the packaged ``settings.json``; ``environ``
    defaults to ``os.environ``; ``overrides`` are dotted keys with ``__`` for dots
    (``database__url="sqlite://"``), applied last, for tests and tools.
    """
    env = os.environ if environ is None else environ
    file = Path(path or env.get("TWIN_SETTINGS_FILE") or DEFAULT_SETTINGS_FILE)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(
            f"settings file {file} does not exist: restore it from git or point TWIN_SETTINGS_FILE "
            "at a valid file"
        ) from None
    except OSError as exc:
        raise SettingsError(f"settings file {file} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"settings file {file} is not valid JSON at line {exc.lineno} column {exc.colno}: "
            f"{exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {file} must hold a JSON object at the top level")

    for name, dotted in ENV_OVERRIDES.items():
        if name in env:
            _set_dotted(data, dotted, _env_value(env[name]))
    for key, value in overrides.items():
        _set_dotted(data, key.replace("__", "."), value)

    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(f"{file}: {_describe(first)}") from None


def mask_url(url: str) -> str:
    """A database or broker URL with its password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url
