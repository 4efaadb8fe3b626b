"""Reliability indices for a period and district, major event days, and today's running SAIDI."""

from __future__ import annotations

from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from dashboard import services
from dashboard.charts import legend_below, symlog_ticks
from dashboard.choices import choice_key
from dashboard.i18n import current_language, t, time_axis_format
from dashboard.session import require_role
from emergency.app.context import Context
from emergency.app.queries import reporting as queries
from emergency.core.models import Role
from emergency.reporting.reliability import MED_MIN_DAYS, ReliabilityReport

DEFAULT_DAYS = 365
NEAR_SHARE = 0.8  # a warning once today's SAIDI reaches this share of T_MED
MED_COLOUR = "#d62728"
DAY_COLOUR = "#1f77b4"
GAUGE_GREY = "#dddddd"
GAUGE_PX = 100  # the whole gauge with its axis; left to the content, the track came out 16 px high
WHOLE_TERRITORY = 0

actor = require_role(Role.MANAGER, Role.ADMIN)
ctx = services.context(actor)
zh = current_language() == "zh"
tz = ctx.tz


@st.cache_data(ttl=30, show_spinner=False)
def report_for(
    _ctx: Context, db_url: str, first_day: date, last_day: date, district_id: int | None
) -> ReliabilityReport:
    """Shared by every manager for half a minute: the indices are read, not edited, here (the
    context is left out of the cache key, so the first manager's read serves the others)."""
    return queries.reliability_report(_ctx, first_day, last_day, district_id)


def index_table(frame: pd.DataFrame, labels: pd.Index | list[str], label_title: str) -> pd.DataFrame:
    """The indices as a manager reads them: ASAI in per cent, minutes and counts rounded."""
    return pd.DataFrame(
        {
            label_title: list(labels),
            "SAIFI": frame["saifi"].round(3).to_numpy(),
            "SAIDI (min)": frame["saidi"].round(2).to_numpy(),
            "CAIDI (min)": frame["caidi"].round(1).to_numpy(),
            "CAIFI": frame["caifi"].round(3).to_numpy(),
            "ASAI (%)": (frame["asai"] * 100).round(4).to_numpy(),
            "MAIFI": frame["maifi"].round(3).to_numpy(),
            t("rel.customers_served"): frame["customers_served"].round().astype(int).to_numpy(),
            t("rel.customer_interruptions"): frame["customers_interrupted"].round(1).to_numpy(),
            t("rel.customer_minutes"): frame["customer_minutes"].round().to_numpy(),
        }
    )


# Every column of an index table in view at 1366 px (the customer minutes were cut off): widths in
# px by column position, for the longer of the two languages' headers and the values.
INDEX_TABLE_PX = (160, 65, 80, 80, 65, 75, 65, 95, 105, 105)


# Headers too long for their column, shown short with the full name as the column's help.
SHORT_HEADERS = {
    "rel.customers_served": "rel.customers_served_short",
    "rel.customer_interruptions": "rel.customer_interruptions_short",
    "rel.customer_minutes": "rel.customer_minutes_short",
}


def index_widths(table: pd.DataFrame) -> dict[str, ColumnConfig]:
    short = {t(key): t(short_key) for key, short_key in SHORT_HEADERS.items()}
    return {
        str(name): st.column_config.Column(
            short.get(str(name)),
            width=px,
            help=str(name) if str(name) in short else None,
            pinned=position == 0,
        )
        for position, (name, px) in enumerate(zip(table.columns, INDEX_TABLE_PX, strict=True))
    }


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8-sig")  # with a BOM, so spreadsheets read Chinese


def district_label(report: ReliabilityReport, district_id: int) -> str:
    code, name_en, name_zh = report.district_names.get(district_id, (str(district_id), "", ""))
    return f"{code} · {name_zh if zh else name_en}"


def today_gauge(saidi: float, t_med: float) -> alt.LayerChart | alt.FacetChart:
    """Today's SAIDI as a bar against T_MED, the way a fuel gauge is read."""
    top = max(saidi, t_med) * 1.15
    scale = alt.Scale(domain=[0, top])
    track = alt.Chart(pd.DataFrame({"value": [top]})).mark_bar(color=GAUGE_GREY, size=28)
    bar_colour = MED_COLOUR if saidi > t_med else DAY_COLOUR
    bar = alt.Chart(pd.DataFrame({"value": [saidi]})).mark_bar(color=bar_colour, size=28)
    rule = alt.Chart(pd.DataFrame({"value": [t_med]})).mark_tick(color="black", thickness=3, size=44)
    # No axis title: the metric above names the figure, and in 70 px a title was cut in half.
    encode = {"x": alt.X("value:Q", scale=scale, title=None)}
    # Beside the tick, inside the track: above it the label was cut off by the chart's top edge.
    label = rule.mark_text(align="left", baseline="middle", dx=6, text="T_MED").encode(**encode)
    return alt.layer(track.encode(**encode), bar.encode(**encode), rule.encode(**encode), label)


def daily_chart(report: ReliabilityReport) -> alt.LayerChart | alt.FacetChart:
    """One bar a day, major event days in red, T_MED a dashed line."""
    med = set(report.major_event_days)
    data = pd.DataFrame(
        {
            "day": pd.to_datetime(list(report.daily.index)),
            "saidi": report.daily.to_numpy(),
            "kind": [t("rel.med_day") if d in med else t("rel.normal_day") for d in report.daily.index],
        }
    )
    colours = alt.Scale(domain=[t("rel.normal_day"), t("rel.med_day")], range=[DAY_COLOUR, MED_COLOUR])
    threshold = report.threshold.t_med if report.threshold is not None else 0.0
    ticks = symlog_ticks(max(float(report.daily.max()) if len(report.daily) else 0.0, threshold))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=t("rel.day"), axis=alt.Axis(format=time_axis_format())),
            # A symmetric log scale: a typhoon day is a hundred normal days, and both must be read;
            # its ticks are given, or Vega-Lite labels only the ends (0 and 140).
            y=alt.Y(
                "saidi:Q",
                title=t("rel.daily_saidi"),
                scale=alt.Scale(type="symlog", domain=[0, ticks[-1]]),
                axis=alt.Axis(values=ticks, format="~r"),  # 200, not 2e+2
            ),
            color=alt.Color("kind:N", scale=colours, title=None, legend=legend_below(None)),
            tooltip=[alt.Tooltip("day:T", title=t("rel.day")), alt.Tooltip("saidi:Q", format=".2f")],
        )
    )
    layers: list[alt.Chart] = [bars]
    if report.threshold is not None:
        line = pd.DataFrame({"t_med": [report.threshold.t_med]})
        layers.append(alt.Chart(line).mark_rule(color="black", strokeDash=[6, 4]).encode(y="t_med:Q"))
    return alt.layer(*layers).properties(height=320)


st.title(t("rel.title"))

today = ctx.clock.now().astimezone(tz).date()
columns = st.columns([2, 1])
period = columns[0].date_input(
    t("rel.period"),
    value=(today - timedelta(days=DEFAULT_DAYS - 1), today),
    max_value=today,
    key="rel-period",
)
if not isinstance(period, tuple) or len(period) != 2:
    st.info(t("rel.pick_period"))
    st.stop()
first_day, last_day = period
whole = report_for(ctx, ctx.db.url, first_day, last_day, None)
# 0, not None, is the whole territory: a widget whose kept value is None shows as unselected
# after the language switch rebuilds it.
district_id = columns[1].selectbox(
    t("rel.district"),
    [WHOLE_TERRITORY, *whole.district_names],
    format_func=lambda i: t("rel.all_districts") if i == WHOLE_TERRITORY else district_label(whole, i),
    key=choice_key("rel-district"),
)
report = (
    whole if district_id == WHOLE_TERRITORY else report_for(ctx, ctx.db.url, first_day, last_day, district_id)
)
st.caption(t("rel.help", minutes=f"{report.momentary_max_minutes:g}"))

# --- today -------------------------------------------------------------------------------------
st.subheader(t("rel.today"))
running = report.running
cells = st.columns(3)
cells[0].metric(t("rel.today_saidi"), f"{running.saidi:.2f}", help=t("rel.today_saidi_help"))
cells[2].metric(t("rel.customers_out"), f"{running.customers_out:,.0f}")
if running.threshold is None:
    st.info(t("rel.no_threshold"))
else:
    share = running.share_of_threshold or 0.0
    cells[1].metric(t("rel.t_med"), f"{running.threshold.t_med:.2f}", t("rel.share", share=share), "off")
    if running.is_major_event:
        st.error(t("rel.med_now", saidi=running.saidi, t_med=running.threshold.t_med), icon=":material/bolt:")
    elif share >= NEAR_SHARE:
        st.warning(t("rel.med_near", share=share), icon=":material/warning:")
    st.altair_chart(today_gauge(running.saidi, running.threshold.t_med), width="stretch", height=GAUGE_PX)

# --- the period --------------------------------------------------------------------------------
st.subheader(t("rel.indices"))
if report.overall.empty:
    st.info(t("rel.none"))
    st.stop()
overall = index_table(
    report.overall, [t("rel.all_days"), t("rel.without_med")][: len(report.overall)], t("rel.period")
)
st.dataframe(overall, hide_index=True, width="stretch", column_config=index_widths(overall))
if report.threshold is not None:
    threshold = report.threshold
    st.caption(
        t(
            "rel.threshold_note",
            t_med=threshold.t_med,
            days=threshold.days_used,
            first=threshold.first_day.isoformat(),
            last=threshold.last_day.isoformat(),
            count=len(report.major_event_days),
        )
    )
    if not threshold.previous_only:
        st.caption(t("rel.threshold_includes_period", days=MED_MIN_DAYS))
st.download_button(
    t("rel.download"),
    csv(overall),
    f"reliability-{first_day}-{last_day}.csv",
    "text/csv",
    key="rel-csv-overall",
)

st.subheader(t("rel.daily"))
st.altair_chart(daily_chart(report), width="stretch")
daily = pd.DataFrame(
    {t("rel.day"): report.daily.index, t("rel.daily_saidi"): report.daily.round(4).to_numpy()}
)
st.download_button(
    t("rel.download"), csv(daily), f"daily-saidi-{first_day}-{last_day}.csv", "text/csv", key="rel-csv-daily"
)

leave_out = st.toggle(t("rel.leave_out_med"), key="rel-leave-out")
by_district = report.by_district_without_major_events if leave_out else report.by_district
by_feeder = report.by_feeder_without_major_events if leave_out else report.by_feeder
district_tab, feeder_tab = st.tabs([t("rel.by_district"), t("rel.by_feeder")])
with district_tab:
    table = index_table(
        by_district, [district_label(report, i) for i in by_district.index], t("rel.district")
    )
    st.dataframe(table, hide_index=True, width="stretch", column_config=index_widths(table))
    st.download_button(
        t("rel.download"),
        csv(table),
        f"reliability-districts-{first_day}-{last_day}.csv",
        "text/csv",
        key="rel-csv-districts",
    )
with feeder_tab:
    labels = [report.feeder_names.get(int(i), str(i)) for i in by_feeder.index]
    table = index_table(by_feeder, labels, t("rel.feeder"))
    st.dataframe(table, hide_index=True, width="stretch", column_config=index_widths(table))
    st.download_button(
        t("rel.download"),
        csv(table),
        f"reliability-feeders-{first_day}-{last_day}.csv",
        "text/csv",
        key="rel-csv-feeders",
    )
