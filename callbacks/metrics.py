"""The asset page's Performance card: the metrics of the range the page's picker shows."""

from __future__ import annotations

import dash
from dash import Input, Output
from flask_login import current_user

from app.asset_view import asset_info
from app.model_registry import AssetNotFound
from app.performance import asset_performance
from app.web.context import db_session, twin
from callbacks.asset import chosen_range
from callbacks.formatting import when
from layouts import ids
from layouts import metrics as card


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ASSET_METRICS, "children"),
        Output(ids.ASSET_METRICS_NOTE, "children"),
        Input(ids.ASSET_ID, "data"),
        Input(ids.ASSET_RANGE, "value"),
        Input(ids.ASSET_CUSTOM, "start_date"),
        Input(ids.ASSET_CUSTOM, "end_date"),
    )
    def performance(asset_id, preset, custom_start, custom_end):  # type: ignore[no-untyped-def]
        try:
            info = asset_info(db_session(), twin().db.sensors_engine, current_user.supplier_id, int(asset_id))
            start, end = chosen_range(info, preset, custom_start, custom_end)
            found = asset_performance(twin().db, twin().settings, current_user.supplier_id, info.id, start, end)
        except (AssetNotFound, TypeError, ValueError):
            return None, "This asset is not available."
        if not found.readings:
            return card.tiles(found.metrics), "No readings in this range: choose a longer range."
        note = (f"From {when(found.start)} to {when(found.end)}: {found.readings:,} readings, "
                f"{found.episodes} anomaly episode{'s' * (found.episodes != 1)}. Hover a metric for its formula.")
        if found.shortened:
            note += f" Long ranges are measured over their newest {twin().settings.metrics.max_days} days."
        return card.tiles(found.metrics), note
