"""How an asset's health looks wherever it is shown: colour, symbol and words together.

The colours are the Okabe-Ito palette's bluish green, orange and vermillion, which readers with
the common colour-vision deficiencies can still tell apart; a symbol and a word go with every
colour anyway, so nothing depends on colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash_bootstrap_components as dbc
from dash import html


@dataclass(frozen=True)
class Look:
    colour: str  # the fill
    ink: str  # text drawn on the fill
    symbol: str
    word: str
    meaning: str


LOOKS: dict[str, Look] = {
    "green": Look("#009E73", "#ffffff", "✓", "Healthy", "Working normally."),
    "amber": Look("#E69F00", "#1f1f1f", "!", "Needs attention",
                  "Something to watch: a warning, late data or forecasts being retrained."),
    "red": Look("#D55E00", "#ffffff", "✕", "Act now",
                "A critical alert, no data for a day, or worn past its limit."),
}


def badge(level: str) -> html.Span:
    """A pill with the level's colour, symbol and word, e.g. "✕ Act now"."""
    look = LOOKS[level]
    return html.Span(
        f"{look.symbol} {look.word}",
        className="badge rounded-pill text-nowrap",
        style={"backgroundColor": look.colour, "color": look.ink, "fontSize": "0.8rem"},
        title=look.meaning,
    )


def no_sites(headline: str, what: str) -> dbc.Alert:
    """The empty state of a supplier without sites: what is missing and how to get it."""
    return dbc.Alert(
        [html.Strong(f"{headline} "),
         f"{what} once your sites and their assets are set up: an administrator adds them (or, "
         "on a trial system, `twin seed-demo` loads a demo estate)."],
        color="secondary",
    )
