"""SLA compliance, ETR accuracy and restoration curves for a period, district, area type and crew."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from dashboard import services
from dashboard.charts import categories
from dashboard.choices import choice_key
from dashboard.downloads import csv_bytes
from dashboard.i18n import current_language, t, time_axis_format
from dashboard.session import require_role
from emergency.app.queries import reporting as queries
from emergency.core.models import AreaType, Role
from emergency.reporting import compliance, etr_accuracy, location_accuracy, restoration_curves

DEFAULT_DAYS = 30
# A longer curve is read at this many moments per district, so the chart stays light.
CURVE_POINTS = 600
LIMIT_COLOUR = "#d62728"
BAR_COLOUR = "#1f77b4"
MAX_BINS = 40
ONE_ROW = pd.DataFrame({"row": [0]})  # a limit rule is one mark

actor = require_role(Role.MANAGER, Role.ADMIN)
ctx = services.context(actor)
language = current_language()
zh = language == "zh"
tz = ctx.tz
now = ctx.clock.now()


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def percent(share: float) -> str:
    return "—" if pd.isna(share) else f"{share:.1%}"


def minutes(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.1f}"


def wall_clock(times: pd.Series) -> pd.Series:
    """Local wall-clock time without an offset: charts draw it on a UTC scale, so every viewer
    sees the utility's time whatever their browser's zone."""
    return times.dt.tz_convert(tz).dt.tz_localize(None)


def local_text(times: pd.Series) -> pd.Series:
    return times.dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("—")


def histogram(values: pd.Series, limit: float, title: str, axis: str) -> alt.LayerChart | alt.FacetChart:
    """Counts in bins closed on the right, (a, b], with the limit as a red rule.

    Closed on the right so that a clock stopped exactly at its limit, which is met, falls left
    of the rule; Vega-Lite's own bins are closed on the left. Binned here, the chart carries a
    few dozen rows however many outages there are.
    """
    bins = compliance.right_closed_bins(values.dropna(), MAX_BINS)
    bars = (
        alt.Chart(bins, title=title)
        .mark_bar(color=BAR_COLOUR, binSpacing=1)
        .encode(
            x=alt.X("low:Q", title=axis, axis=alt.Axis(format="d")),
            x2="high:Q",
            y2=alt.datum(0),
            y=alt.Y("outages:Q", title=t("cmp.outages"), axis=alt.Axis(format="d", tickMinStep=1)),
            tooltip=[
                alt.Tooltip("low:Q"),
                alt.Tooltip("high:Q"),
                alt.Tooltip("outages:Q", title=t("cmp.outages")),
            ],
        )
    )
    rule = alt.Chart(ONE_ROW).mark_rule(color=LIMIT_COLOUR, size=2).encode(x=alt.datum(limit))
    return alt.layer(bars, rule)


# Every column of the clocks table in view at 1366 px wide (the p90 column was cut off): widths
# in px for the longer of the two languages' headers and values; the clock's name stays pinned.
CLOCK_TABLE_PX = {
    "cmp.col.clock": 205,
    "cmp.col.limit": 55,
    "cmp.area_type": 72,
    "cmp.col.kind": 70,
    "cmp.outages": 65,
    "cmp.col.met": 55,
    "cmp.col.missed": 60,
    "cmp.col.running": 65,
    "cmp.col.share": 72,
    "cmp.col.mean": 60,
    "cmp.col.median": 65,
    "cmp.col.p90": 55,
}


def clock_table_widths() -> dict[str, ColumnConfig]:
    return {
        t(key): st.column_config.Column(width=px, pinned=key == "cmp.col.clock")
        for key, px in CLOCK_TABLE_PX.items()
    }


def csv_download(label: str, frame: pd.DataFrame, name: str) -> None:
    """A CSV of `frame` for the period, written only when clicked, without rerunning the page."""
    st.download_button(
        t(label),
        data=lambda: csv_bytes(frame),
        file_name=f"{name}-{first_day:%Y%m%d}-{last_day:%Y%m%d}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        disabled=frame.empty,
        key=f"cmp-dl-{name}",
    )


st.title(t("cmp.title"))
st.caption(t("cmp.help"))

choices = queries.compliance_choices(ctx)
district_names = {i: (zh_name if zh else en_name) for i, en_name, zh_name, _ in choices.districts}
crew_names = {i: f"{code} · {name}" for i, code, name in choices.crews}

today = now.astimezone(tz).date()
columns = st.columns([2, 1, 1, 1])
period = columns[0].date_input(
    t("cmp.period"),
    value=(today - timedelta(days=DEFAULT_DAYS - 1), today),
    max_value=today,
    key="cmp-period",
)
district_id = columns[1].selectbox(
    t("board.district"),
    [None, *district_names],
    format_func=lambda i: t("cmp.all") if i is None else district_names[i],
    placeholder=t("cmp.all"),  # a keyed box shows its None choice as the placeholder
    key=choice_key("cmp-district"),
)
area_type = columns[2].selectbox(
    t("cmp.area_type"),
    [None, *(a.value for a in AreaType)],
    format_func=lambda a: t("cmp.all") if a is None else t(f"area.{a}"),
    placeholder=t("cmp.all"),
    key=choice_key("cmp-area"),
)
crew_id = columns[3].selectbox(
    t("cmp.crew"),
    [None, *crew_names],
    format_func=lambda i: t("cmp.all") if i is None else crew_names[i],
    placeholder=t("cmp.all"),
    key=choice_key("cmp-crew"),
)
if not isinstance(period, tuple) or len(period) != 2:
    st.info(t("cmp.pick_period"))
    st.stop()
first_day, last_day = period
start, end = local_midnight(first_day), local_midnight(last_day + timedelta(days=1))

report = queries.compliance_report(
    ctx, start, end, district_id=district_id, area_type=area_type, crew_id=crew_id
)
timings, breaches, etr, curve = report.timings, report.breaches, report.etr, report.curve
summary = report.summary.set_index("code")

if timings.empty:
    st.info(t("cmp.none"))
    st.stop()


def clock_row(code: str) -> pd.Series | None:
    return summary.loc[code] if code in summary.index else None


dispatch_clock = clock_row(compliance.DISPATCH_TARGET)
on_site_clock = clock_row(compliance.ON_SITE_TARGET)
metrics = st.columns(5)
metrics[0].metric(t("cmp.outages"), f"{len(timings):,}")
for column, clock, label in (
    (metrics[1], dispatch_clock, "cmp.dispatch_share"),
    (metrics[2], on_site_clock, "cmp.on_site_share"),
):
    if clock is not None:
        column.metric(
            t(label, limit=int(clock["limit_minutes"])),
            percent(clock["share_met"]),
            help=t(
                "cmp.share_help",
                met=int(clock["met"]),
                missed=int(clock["missed"]),
                running=int(clock["running"]),
            ),
        )
metrics[3].metric(t("cmp.breaches"), f"{len(breaches):,}")
if dispatch_clock is not None:
    metrics[4].metric(
        t("cmp.dispatch_median"),
        minutes(dispatch_clock["median_minutes"]),
        help=t("cmp.p90", minutes=minutes(dispatch_clock["p90_minutes"])),
    )
if crew_id is not None:
    st.caption(t("cmp.crew_note"))

clocks_tab, breaches_tab, curve_tab, etr_tab, location_tab = st.tabs(
    [t("cmp.tab.clocks"), t("cmp.tab.breaches"), t("cmp.tab.curve"), t("cmp.tab.etr"), t("locate.tab")]
)


# compliance.ARRIVAL_SOURCES in words (keys spelled out so the catalogue's check finds them).
SOURCE_WORDS = {
    "gps": "gps.source.gps",
    "crew": "gps.source.crew",
    "dispatcher": "gps.source.dispatcher",
    "unknown": "gps.source.unknown",
    "not_arrived": "gps.source.not_arrived",
}


def on_site_by_source(by_source: pd.DataFrame) -> None:
    """The on-site clock by how each arrival was recorded (GPS, the crew, a dispatcher...)."""
    if by_source.empty:
        return
    st.markdown(f"**{t('gps.cmp.title')}**")
    st.dataframe(
        pd.DataFrame(
            {
                t("gps.cmp.source"): by_source["source"].map(lambda s: t(SOURCE_WORDS[s])),
                t("cmp.outages"): by_source["outages"],
                t("cmp.col.met"): by_source["met"],
                t("cmp.col.missed"): by_source["missed"],
                t("cmp.col.running"): by_source["running"],
                t("cmp.col.share"): by_source["share_met"].map(percent),
                t("cmp.col.median"): by_source["median_minutes"].round(1),
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(t("gps.cmp.note"))


with clocks_tab:
    charts = st.columns(2)
    for column, clock, values in (
        (charts[0], dispatch_clock, timings["dispatch_minutes"]),
        (charts[1], on_site_clock, timings["on_site_minutes"]),
    ):
        if clock is None:
            continue
        name = clock["clock_zh"] if zh else clock["clock_en"]
        column.altair_chart(
            histogram(values, clock["limit_minutes"], name, t("cmp.minutes")), width="stretch"
        )
        column.caption(
            t(
                "cmp.distribution",
                median=minutes(clock["median_minutes"]),
                p90=minutes(clock["p90_minutes"]),
                limit=int(clock["limit_minutes"]),
            )
        )
    table = summary.reset_index()
    st.dataframe(
        pd.DataFrame(
            {
                t("cmp.col.clock"): table["clock_zh" if zh else "clock_en"],
                t("cmp.col.limit"): table["limit_minutes"],
                t("cmp.area_type"): table["area_type"].map(
                    lambda a: t("cmp.all") if pd.isna(a) else t(f"area.{a}")
                ),
                t("cmp.col.kind"): table["enforced"].map(
                    lambda e: t("cmp.enforced") if e else t("cmp.reference")
                ),
                t("cmp.outages"): table["outages"],
                t("cmp.col.met"): table["met"],
                t("cmp.col.missed"): table["missed"],
                t("cmp.col.running"): table["running"],
                t("cmp.col.share"): table["share_met"].map(percent),
                t("cmp.col.mean"): table["mean_minutes"].round(1),
                t("cmp.col.median"): table["median_minutes"].round(1),
                t("cmp.col.p90"): table["p90_minutes"].round(1),
            }
        ),
        hide_index=True,
        width="stretch",
        column_config=clock_table_widths(),
    )
    st.caption(t("cmp.minutes_note") + " " + t("cmp.reference_note"))
    on_site_by_source(report.on_site_by_source)
    csv_download("cmp.download_outages", timings, "sla-outages")

with breaches_tab:
    if breaches.empty:
        st.success(t("cmp.no_breaches"))
    else:
        causes = breaches["cause"].value_counts()
        cause_columns = st.columns(len(compliance.BreachCause))
        for column, cause in zip(cause_columns, compliance.BreachCause, strict=True):
            column.metric(t(f"cmp.cause.{cause.value}"), int(causes.get(cause.value, 0)))
        st.caption(t("cmp.cause_rule"))
        st.dataframe(
            pd.DataFrame(
                {
                    t("cmp.col.outage"): breaches["outage_id"],
                    t("cmp.col.clock"): breaches["clock_zh" if zh else "clock_en"],
                    t("cmp.col.cause"): breaches["cause"].map(lambda c: t(f"cmp.cause.{c}")),
                    t("cmp.col.overrun"): breaches["overrun_minutes"].round(1),
                    t("board.district"): breaches["district_zh" if zh else "district"],
                    t("cmp.col.first_report"): local_text(breaches["first_report_at"]),
                    t("cmp.col.deadline"): local_text(breaches["deadline"]),
                    t("cmp.col.stopped"): local_text(breaches["stopped_at"]),
                    t("cmp.col.idle"): breaches["idle_crews_at_deadline"],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    csv_download("cmp.download_breaches", breaches, "sla-breaches")

with curve_tab:
    st.caption(t("cmp.curve_help"))
    drawn = restoration_curves.sampled(curve, CURVE_POINTS) if len(curve) > 4 * CURVE_POINTS else curve
    every = t("cmp.all_districts")
    chart_data = pd.DataFrame(
        {
            "at": wall_clock(drawn["at"]),
            "district": drawn["district_zh" if zh else "district"].where(drawn["district_id"].notna(), every),
            "customers": drawn["customers_out"],
        }
    )
    chart = (
        alt.Chart(chart_data)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X(
                "at:T",
                title=t("cmp.time"),
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format=time_axis_format()),
            ),
            y=alt.Y("customers:Q", title=t("cmp.customers_out")),
            color=categories("district:N", t("board.district")),
            # The territory's total stands out from its districts.
            strokeWidth=alt.condition(alt.datum.district == every, alt.value(3), alt.value(1.2)),
            tooltip=[
                alt.Tooltip("at:T", title=t("cmp.time"), format="%Y-%m-%d %H:%M", formatType="utc"),
                alt.Tooltip("district:N", title=t("board.district")),
                alt.Tooltip("customers:Q", title=t("cmp.customers_out")),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    overall = curve[curve["district_id"].isna()]
    peak = overall.loc[overall["customers_out"].idxmax()]
    st.caption(
        t(
            "cmp.peak",
            customers=f"{int(peak['customers_out']):,}",
            at=local_text(pd.Series([peak["at"]])).iloc[0],
        )
    )
    csv_download("cmp.download_curve", curve, "restoration-curve")

with etr_tab:
    figures = etr_accuracy.etr_accuracy(etr).iloc[0]
    etr_metrics = st.columns(5)
    etr_metrics[0].metric(
        t("cmp.etr.restored"),
        f"{int(figures['restored']):,}",
        help=t("cmp.etr.with", n=int(figures["with_etr"])),
    )
    etr_metrics[1].metric(t("cmp.etr.by_last"), percent(figures["share_by_last"]))
    etr_metrics[2].metric(t("cmp.etr.by_first"), percent(figures["share_by_first"]))
    etr_metrics[3].metric(
        t("cmp.etr.mae"),
        minutes(figures["mae_last_minutes"]),
        help=t("cmp.etr.mae_first", minutes=minutes(figures["mae_first_minutes"])),
    )
    etr_metrics[4].metric(t("cmp.etr.revisions"), minutes(figures["revisions_per_outage"]))
    st.altair_chart(
        histogram(etr["last_error_minutes"], 0, t("cmp.etr.error_chart"), t("cmp.etr.error_axis")),
        width="stretch",
    )
    st.caption(t("cmp.etr.error_help"))

    def accuracy_table(by: str, label: str, name: Callable[[str], str] = str) -> pd.DataFrame:
        table = etr_accuracy.etr_accuracy(etr, by)
        return pd.DataFrame(
            {
                label: table[by].map(lambda v: t("cmp.etr.none") if v == etr_accuracy.UNKNOWN else name(v)),
                t("cmp.etr.restored"): table["restored"],
                t("cmp.etr.with_col"): table["with_etr"],
                t("cmp.etr.by_last"): table["share_by_last"].map(percent),
                t("cmp.etr.by_first"): table["share_by_first"].map(percent),
                t("cmp.etr.mae"): table["mae_last_minutes"].round(1),
                t("cmp.etr.bias"): table["bias_last_minutes"].round(1),
                t("cmp.etr.revisions"): table["revisions_per_outage"].round(2),
            }
        )

    tables = st.columns(2)
    tables[0].dataframe(
        accuracy_table("last_source", t("cmp.etr.source"), lambda source: t(f"cmp.source.{source}")),
        hide_index=True,
        width="stretch",
    )
    tables[1].dataframe(
        accuracy_table("district_zh" if zh else "district", t("board.district")),
        hide_index=True,
        width="stretch",
    )
    csv_download("cmp.download_etr", etr, "etr-accuracy")

with location_tab:
    # Where analysis predicted each outage against where the crew found the fault.
    located = location_accuracy.location_accuracy(report.location)
    location_metrics = st.columns(5)
    location_metrics[0].metric(t("locate.found"), f"{located['outages']:,}")
    location_metrics[1].metric(t("locate.first_exact"), percent(located["first_exact_share"]))
    location_metrics[2].metric(t("locate.final_exact"), percent(located["final_exact_share"]))
    location_metrics[3].metric(
        t("locate.too_high_low"), f"{located['first_too_high']:,} / {located['first_too_low']:,}"
    )
    location_metrics[4].metric(t("locate.mean_confidence"), percent(located["mean_confidence"]))
    st.caption(t("locate.help"))
    verdicts = {v: t(f"locate.verdict.{v}") for v in location_accuracy.VERDICTS}
    st.dataframe(
        pd.DataFrame(
            {
                t("dispatch.col.id"): report.location["outage_id"],
                t("locate.col.predicted"): report.location["predicted"],
                t("locate.col.final"): report.location["final"],
                t("locate.col.found"): report.location["found"],
                t("locate.confidence"): report.location["confidence"].map(
                    lambda c: "—" if pd.isna(c) else f"{c:.0%}"
                ),
                t("locate.col.first_verdict"): report.location["first_verdict"].map(verdicts),
                t("locate.col.final_verdict"): report.location["final_verdict"].map(verdicts),
            }
        ),
        hide_index=True,
        width="stretch",
    )
    csv_download("locate.download", report.location, "location-accuracy")
