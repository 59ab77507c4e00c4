"""Logging for every Energy Twin process (web, worker, beat, CLI).

Each process logs to the console and to ``twin_logs.txt`` (path from settings). Several processes
share that file under ``make run``, so rotation uses ``concurrent-log-handler``, which takes a file
lock around rollover; the standard ``RotatingFileHandler`` would let two processes rotate at once
and lose lines.
"""

from __future__ import annotations

import logging
import logging.config

from settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s"


def configure_logging(settings: Settings, process: str) -> None:
    """Send this process's logs to the console and the shared rotating log file.

    ``process`` names the process kind (web, worker, beat, cli) in every line.
    """
    import multiprocessing

    # processName is what appears in each line; label the main process with its role.
    multiprocessing.current_process().name = process
    settings.log_path.parent.mkdir(parents=True, exist_ok=True)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"twin": {"format": LOG_FORMAT}},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "twin",
                    "stream": "ext://sys.stderr",
                },
                "file": {
                    "class": "concurrent_log_handler.ConcurrentRotatingFileHandler",
                    "formatter": "twin",
                    "filename": str(settings.log_path),
                    "maxBytes": settings.logging.max_bytes,
                    "backupCount": settings.logging.backup_count,
                    "encoding": "utf-8",
                },
            },
            "root": {"level": settings.logging.level, "handlers": ["console", "file"]},
            "loggers": {
                # Per-request lines from the WSGI server and per-poll lines from the embedded
                # broker drown the application's own messages at INFO.
                "waitress.queue": {"level": "WARNING"},
                "sqlalchemy.engine": {"level": "WARNING"},
                "kombu.transport.sqlalchemy": {"level": "WARNING"},
                "alembic.runtime": {"level": "WARNING"},
            },
        }
    )
    logging.captureWarnings(True)


def logging_configured() -> bool:
    """Whether :func:`configure_logging` already ran in this process."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    return any(isinstance(h, ConcurrentRotatingFileHandler) for h in logging.getLogger().handlers)
