"""All models, imported in one place so the metadata (and Alembic) sees every table."""

from app.db.models.analytics import (
    Calculation,
    CalculationRollup,
    Job,
    Lease,
    ModelEvent,
    ModelVersion,
    PipelineRun,
    PipelineState,
    Prediction,
    Validation,
)
from app.db.models.billing import FUELS, READING_KINDS, Customer, Meter, MeterReading, Tariff
from app.db.models.operations import Alert, AuditLog, EmailLog, WorkerHeartbeat
from app.db.models.plant import Asset, Sensor, SensorReading, SensorRollup, Site
from app.db.models.tenancy import ROLES, ApiToken, Supplier, User

__all__ = [
    "FUELS",
    "READING_KINDS",
    "ROLES",
    "Alert",
    "ApiToken",
    "Asset",
    "AuditLog",
    "Calculation",
    "CalculationRollup",
    "Customer",
    "Job",
    "Lease",
    "ModelEvent",
    "PipelineRun",
    "PipelineState",
    "EmailLog",
    "Meter",
    "MeterReading",
    "ModelVersion",
    "Prediction",
    "Sensor",
    "SensorReading",
    "SensorRollup",
    "Site",
    "Supplier",
    "Tariff",
    "User",
    "Validation",
    "WorkerHeartbeat",
]
