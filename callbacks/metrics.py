"""The asset page's Performance card: the metrics of the range the page's picker shows."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output
from flask_login import current_user

from app.performance import asset_performance
from app.web.context import twin
from callbacks.asset_figures import Page, asset, remembered
from callbacks.formatting import when
from layouts import ids
from layouts import metrics as card


def performance(view: Page) -> tuple[Any, str]:
    """The card's tiles and the note above them for the page's range."""
    info, supplier_id = view.info, current_user.supplier_id
    found = remembered(("performance", info.id, view.start, view.end, info.last_ts),
                       lambda: asset_performance(twin().db, twin().settings, supplier_id, info.id,
                                                 view.start, view.end))
    if not found.readings:
        return card.tiles(found.metrics), "No readings in this range: choose a longer range."
    note = (f"From {when(found.start)} to {when(found.end)}: {found.readings:,} readings, "
            f"{found.episodes} anomaly episode{'s' * (found.episodes != 1)}. Hover a metric for its formula.")
    if found.shortened:
        note += f" Long ranges are measured over their newest {twin().settings.metrics.max_days} days."
    return card.tiles(found.metrics), note


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ASSET_METRICS, "children"),
        Output(ids.ASSET_METRICS_NOTE, "children"),
        Input(ids.ASSET_ID, "data"),
        Input(ids.ASSET_RANGE, "value"),
        Input(ids.ASSET_CUSTOM, "start_date"),
        Input(ids.ASSET_CUSTOM, "end_date"),
        prevent_initial_call=True,  # the page's first draw fills it (callbacks.asset)
    )
    def range_changed(asset_id, preset, custom_start, custom_end):  # type: ignore[no-untyped-def]
        info = asset(asset_id)
        if info is None:
            return None, "This asset is not available."
        return performance(Page.of(info, preset, custom_start, custom_end))
