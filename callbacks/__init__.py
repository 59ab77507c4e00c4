"""Callbacks, registered on a given Dash app (not the global registry), so several apps (tests)
can live in one process. Each is thin: read inputs, call one service, return outputs."""

from __future__ import annotations

import dash

from callbacks import (
    admin,
    alerts,
    asset,
    board,
    catalogue,
    emails,
    estate,
    importer,
    meter,
    meters,
    metrics,
    models,
    shell,
    whatif,
)


def register_callbacks(app: dash.Dash) -> None:
    shell.register(app)
    estate.register(app)
    board.register(app)
    meters.register(app)
    admin.register(app)
    models.register(app)
    emails.register(app)
    asset.register(app)
    meter.register(app)
    metrics.register(app)
    whatif.register(app)
    alerts.register(app)
    importer.register(app)
    catalogue.register(app)
