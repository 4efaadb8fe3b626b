"""What the pages draw, read from what Streamlit sends the browser (AppTest): column widths that keep
figures in view, colours that mean one thing, chart axes and legends people can read, local times.

Widths and colours are checked in the column configuration the page sends; the screenshots at
1366x768, 1920x1080 and 390x844 named in the branch's report are what they were chosen from.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from streamlit.testing.v1 import AppTest

from dashboard.i18n import STRINGS
from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.public import snapshot as publish
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.pages.test_compliance_page import outages  # noqa: F401  (a fixture)
from tests.pages.test_public_status import public_db  # noqa: F401  (a fixture)
from tests.pages.test_reliability_page import fixed_now, history_and_today  # noqa: F401
from tests.support.commands import submit_reports
from tests.support.small_territory import PASSWORDS

TIMEOUT = 60
# The room a page's main column has beside the sidebar in a 1366 px wide window (measured on the
# screenshots: 906 px); a table meant to be read whole must fit in it.
CONTENT_PX_AT_1366 = 900
ZH = {key: chinese for key, (_, chinese) in STRINGS.items()}


def open_as(name: str, role: str | None = None, language: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = language
    at.run()
    if role is not None:
        log_in(at, role, PASSWORDS[role])
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def column_config(frame: Any) -> dict[str, Any]:
    """The column configuration a dataframe was sent with, by column name."""
    raw = json.loads(frame.proto.columns or "{}")
    return {key.removeprefix("col:name:"): value for key, value in raw.items()}


def charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def encodings(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every encoding of a chart and its layers."""
    found = [spec["encoding"]] if "encoding" in spec else []
    for layer in spec.get("layer", []):
        found += encodings(layer)
    return found


# --- Power status ----------------------------------------------------------------------------


def test_power_status_bars_are_green_for_power_and_the_etr_column_is_wide_enough(public_db):  # noqa: F811
    at = open_as("public_status.py")
    config = column_config(at.dataframe[0])

    # The bar is the customers with power: red (Streamlit's primary colour) said "bad" at 100 %.
    assert config["With power"]["type_config"]["color"] == "green"
    # "12-05 18:30 – 12-05 21:00 · 2 being reassessed" was cut after the first time.
    assert config["Estimated restoration"]["width"] >= 300


def test_power_status_plots_the_share_with_power_under_named_axes(public_db):  # noqa: F811
    at = open_as("public_status.py")
    (spec,) = charts(at)
    encoding = spec["encoding"]

    assert encoding["y"]["title"] == "With power (%)"  # not customers out, rising
    assert encoding["x"]["title"] == "Time"
    assert encoding["color"]["legend"]["orient"] == "bottom"
    # Both outages of the fixture are in their districts now: the last point is below 100 %.
    assert "index" not in json.dumps(spec) and "value" not in encoding["y"]["field"]


# --- Dispatcher console ------------------------------------------------------------------------


def test_no_red_box_says_none_is_past_a_clock_when_only_some_are_about_to_be(territory_db):
    url, territory = territory_db
    when = (SYSTEM_CLOCK.now() - timedelta(minutes=8)).isoformat()  # 2 of 10 minutes left: at risk
    reports = [
        {"channel": "hotline", "kind": "no_power", "account_no": account, "reported_at": when}
        for account in territory.account_by_transformer["TX-4"][:2]
    ]
    submit_reports(get_database(url), SYSTEM_CLOCK, Actor("hotline", "intake"), reports)
    publish.forget_cached_snapshot(get_database(url).url)

    at = open_as("dispatcher_map.py", "dispatcher")

    assert not at.error, [e.value for e in at.error]  # red is for clocks past their limit
    assert any("About to pass a clock: 1 outage(s)" in w.value for w in at.warning)
    assert not any(" 0 outage" in w.value or w.value.startswith("0 ") for w in at.warning)


# --- Audit log ---------------------------------------------------------------------------------


def test_the_audit_log_shows_stored_moments_in_local_time_and_the_changes_in_view(territory_db):
    url, _ = territory_db
    with get_database(url).write() as session:
        audit.record(
            session,
            SYSTEM_CLOCK,
            Actor("dan", "dispatcher"),
            "outage.etr",
            "outage",
            7,
            before={"etr_at": None},
            after={"etr_at": "2026-12-05T06:30:00+00:00"},
        )
    at = open_as("audit_log.py", "manager", language="zh")
    table = at.dataframe[0]
    row = table.value[table.value[ZH["audit.entity_id"]] == "7"].iloc[0]

    assert row[ZH["audit.col.changes"]] == "etr_at: — → 2026-12-05 14:30:00"  # Shanghai, not UTC
    assert row[ZH["login.role"]] == "调度员"  # the role's name, not its code
    config = column_config(table)
    assert config[ZH["audit.col.changes"]]["width"] >= 400
    # The changes column ends within the page at 1366 px: the columns before it and it fit.
    keys = ["audit.col.at", "audit.action", "audit.entity", "audit.entity_id", "audit.col.changes"]
    before = [ZH[key] for key in keys]
    assert list(table.value.columns[: len(before)]) == before
    assert sum(config[name]["width"] for name in before) <= CONTENT_PX_AT_1366


# --- Compliance --------------------------------------------------------------------------------


def test_the_clocks_table_fits_with_its_p90_column(outages):  # noqa: F811
    at = open_as("manager_compliance.py", "manager")
    for language in ("en", "zh"):
        at.session_state["lang"] = language
        at.run()
        table = at.dataframe[0]
        config = column_config(table)
        widths = [config.get(str(name), {}).get("width") for name in table.value.columns]
        assert all(widths), f"every column has a width ({language}): {widths}"
        assert sum(widths) <= CONTENT_PX_AT_1366, f"{sum(widths)} px is cut off at 1366 ({language})"
        assert str(table.value.columns[-1]) in ("P90", "90分位")


def test_the_restoration_curve_has_its_legend_below_and_dates_in_the_readers_words(outages):  # noqa: F811
    at = open_as("manager_compliance.py", "manager", language="zh")
    curve = next(spec for spec in charts(at) if spec.get("mark", {}).get("interpolate") == "step-after")
    encoding = curve["encoding"]

    assert encoding["color"]["legend"]["orient"] == "bottom"
    assert encoding["color"]["legend"]["labelLimit"] == 0
    assert encoding["x"]["axis"]["format"]["month"] == "%Y年%m月"  # not "December"


# --- Reliability -------------------------------------------------------------------------------


def test_the_daily_saidi_axis_has_readable_ticks_and_dates_in_the_readers_words(territory_db, fixed_now):  # noqa: F811
    url, territory = territory_db
    history_and_today(url, territory, out_since_hour=14)
    for language, month in (("en", "%Y-%m"), ("zh", "%Y年%m月")):
        at = open_as("manager_reliability.py", "manager", language=language)
        daily = next(spec for spec in charts(at) if "layer" in spec and len(spec["layer"]) == 2)
        bars = encodings(daily)[0]
        ticks = bars["y"]["axis"]["values"]
        # Days of 10 and 40 min and T_MED 115.66: 0, 1, 2, 5, 10, 20, 50, 100, 200, not 0 and 140.
        assert ticks[0] == 0 and ticks[-1] >= 115.66 and len(ticks) >= 5
        assert bars["y"]["scale"]["domain"] == [0, ticks[-1]]
        assert bars["x"]["axis"]["format"]["month"] == month
        assert bars["color"]["legend"]["orient"] == "bottom"


# --- Situation report --------------------------------------------------------------------------


def test_the_situation_reports_tables_scroll_rather_than_squeeze_chinese_names(territory_db):
    at = open_as("manager_sitrep.py", "manager", language="zh")
    styles = [h.proto.body for h in at.get("html")]
    assert any("st-key-sitrep-preview table" in s and "overflow-x: auto" in s for s in styles)
    assert any("word-break: keep-all" in s for s in styles)
