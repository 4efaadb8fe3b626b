"""Pieces every chart of the pages shares, so charts read the same way on each page.

Legends go below the plot with their labels whole (on the right, Vega-Lite cuts a label at 160 px
and narrows the plot for long district names); date axes say dates in numbers and the reader's
words (`dashboard.i18n.time_axis_format`); a log-like axis gets ticks a person can read.
"""

from __future__ import annotations

import math
from typing import Final

import altair as alt

LEGEND_COLUMNS = 4
# Series that are only different things (districts) get colours that say nothing else: no red,
# which on these pages means without power, breached or past a threshold.
CATEGORY_SCHEME: Final = "dark2"
STEPS = (1, 2, 5)  # ticks of a log-like axis: 1, 2, 5, 10, 20, 50, ...
MAX_TICKS = 9


def legend_below(title: str | None, columns: int = LEGEND_COLUMNS) -> alt.Legend:
    """A legend under the plot, in columns, labels never shortened."""
    return alt.Legend(orient="bottom", columns=columns, labelLimit=0, title=title, direction="horizontal")


def categories(field: str, title: str | None) -> alt.Color:
    """Colour by a nominal field (district), with the neutral scheme and the legend below."""
    return alt.Color(field, title=title, scale=alt.Scale(scheme=CATEGORY_SCHEME), legend=legend_below(title))


def symlog_ticks(top: float) -> list[float]:
    """Ticks for a symmetric-log axis from 0 to `top`: 0, then 1-2-5 steps (0.1, 0.2, 0.5, 1, ...
    when `top` is small), up to the first step at or above `top`. With more than `MAX_TICKS`,
    powers of ten only. Vega-Lite picks only the ends (0 and 140) on such an axis by itself."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    lowest = 0.1 if top < 10 else 1.0
    decades = range(round(math.log10(lowest)), math.ceil(math.log10(top)) + 1)
    steps = [step * 10.0**decade for decade in decades for step in STEPS]
    ticks = [0.0] + [round(v, 6) for v in steps if v < top] + [round(next(v for v in steps if v >= top), 6)]
    if len(ticks) > MAX_TICKS:
        ticks = [0.0] + [v for v in ticks[1:] if math.log10(v).is_integer()]
        if ticks[-1] < top:
            ticks.append(10.0 ** math.ceil(math.log10(top)))
    return ticks
