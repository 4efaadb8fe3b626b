"""What the public progress chart plots, the ticks of a log-like axis, and moments shown in local time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard import public_map
from dashboard.charts import legend_below, symlog_ticks
from dashboard.i18n import shown_value
from emergency.public.snapshot import DistrictStatus, PublicSnapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def english(key: str, **values: object) -> str:
    words = {"public.progress.time": "Time", "public.progress.district": "District"}
    words["public.progress.share"] = "With power (%)"
    return words[key]


def district(code: str, name: str, served: int, out: int) -> DistrictStatus:
    return DistrictStatus(
        code=code,
        name_en=name,
        name_zh=name,
        area_type="urban",
        customers_served=served,
        customers_out=out,
        outages=1 if out else 0,
    )


def snapshot(progress: dict[str, list[int]], districts: list[DistrictStatus]) -> PublicSnapshot:
    return PublicSnapshot(
        generated_at=START + timedelta(minutes=30),
        next_update_at=START + timedelta(minutes=31),
        interval_s=60,
        customers_served=sum(d.customers_served for d in districts),
        customers_out=sum(d.customers_out for d in districts),
        outages=1,
        crews_working=0,
        districts=districts,
        areas_json='{"type":"FeatureCollection","features":[]}',
        districts_geojson={"type": "FeatureCollection", "features": []},
        small_outages_not_drawn=0,
        min_customers_shown=25,
        progress_times=[START + timedelta(minutes=10 * i) for i in range(len(next(iter(progress.values()))))],
        progress_out=progress,
    )


def test_restoration_progress_plots_the_share_with_power_which_rises_as_power_comes_back():
    # West serves 200: 0 out, then 50 (the storm), then 20 as crews restore; East never lost power.
    shot = snapshot(
        {"W": [0, 50, 20], "E": [0, 0, 0]}, [district("W", "West", 200, 20), district("E", "East", 100, 0)]
    )

    frame = public_map.progress_frame(shot, "en", SHANGHAI)

    assert list(frame.columns) == ["West"]  # a district that never lost power tells nothing
    assert list(frame["West"]) == [100.0, 75.0, 90.0]  # per cent with power: up as power returns
    assert list(frame.index) == ["14:00", "14:10", "14:20"]  # local time, 24-hour clock


def test_the_share_with_power_never_goes_below_zero_or_divides_by_nothing():
    assert public_map.share_with_power(5, 0) == 100.0
    assert public_map.share_with_power(12, 10) == 0.0
    assert public_map.share_with_power(1, 3) == 66.67


def test_the_progress_chart_names_its_axes_and_keeps_red_out_of_its_series():
    shot = snapshot({"W": [0, 50, 20]}, [district("W", "West", 200, 20)])
    spec = public_map.progress_chart(public_map.progress_frame(shot, "en", SHANGHAI), english).to_dict()

    encoding = spec["encoding"]
    assert encoding["x"]["title"] == "Time"
    assert encoding["y"]["title"] == "With power (%)"
    assert encoding["y"]["scale"]["domain"][1] == 100
    assert encoding["color"]["legend"]["orient"] == "bottom"  # long names never squeeze the plot
    assert encoding["color"]["legend"]["labelLimit"] == 0  # nor get cut
    assert encoding["color"]["scale"]["scheme"] == "dark2"  # no red: red means without power


def test_a_warning_written_only_in_english_keeps_its_title_on_the_chinese_page():
    shot = snapshot({"W": [0]}, [district("W", "West", 200, 0)])
    warning = public_map.PublicWarning(
        level="red",
        colour="#d7191c",
        hazard="typhoon",
        title_en="Typhoon Haikui",
        title_zh="",
        text_en="",
        text_zh="",
        districts=["W"],
        effective_at=START,
        expires_at=START + timedelta(hours=6),
    )

    def chinese(key: str, **values: object) -> str:
        return {"public.warning_title": "{heading}：{title}"}.get(key, key).format(**values)

    assert "Typhoon Haikui" in public_map.warning_banner(warning, shot, "zh", chinese, SHANGHAI)
    with_title = replace(warning, title_zh="台风海葵")
    assert "台风海葵" in public_map.warning_banner(with_title, shot, "zh", chinese, SHANGHAI)


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (140, [0, 1, 2, 5, 10, 20, 50, 100, 200]),
        (5, [0, 0.1, 0.2, 0.5, 1, 2, 5]),
        (0.3, [0, 0.1, 0.2, 0.5]),
        (4000, [0, 1, 10, 100, 1000, 10000]),
        (0, [0, 1]),
    ],
)
def test_a_log_like_axis_gets_readable_ticks_up_to_its_top(top, ticks):
    # Vega-Lite's own choice on the daily SAIDI chart was two labels: 0 and 140.
    assert symlog_ticks(top) == ticks
    assert len(symlog_ticks(top)) >= 2


def test_a_legend_below_shows_whole_labels():
    legend = legend_below("District").to_dict()
    assert legend["orient"] == "bottom" and legend["labelLimit"] == 0


def test_moments_stored_in_utc_are_shown_in_local_time_and_other_values_as_they_are():
    assert shown_value("2026-12-05T06:30:00+00:00", SHANGHAI) == "2026-12-05 14:30:00"
    assert shown_value("2026-12-05 06:30:00+00:00", SHANGHAI) == "2026-12-05 14:30:00"
    assert shown_value("confirmed", SHANGHAI) == "confirmed"
    assert shown_value(3, SHANGHAI) == "3"
    assert shown_value(None, SHANGHAI) == "—"
    assert shown_value("2026-12-05 is the day", SHANGHAI) == "2026-12-05 is the day"
