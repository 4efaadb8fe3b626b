"""`python -m emergency report sitrep|compliance|reliability|etr-accuracy|location-accuracy`: every
figure a manager reads on the report pages, from the command line, as a one-line summary or JSON.

The same queries the pages use (`emergency.app.queries.reporting`), through the application layer
as the CLI's administrator. `--from` and `--to` are local dates or date-times (`OUTAGE_TZ`): a date
alone is its whole day, so `--from 2026-07-01 --to 2026-07-01` is one day, as on the pages. Times
in the JSON are local, with their offset.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from emergency.app.context import Context
from emergency.app.queries import reporting as queries
from emergency.core.clock import FakeClock
from emergency.core.errors import InvalidInput
from emergency.reporting import etr_accuracy, location_accuracy
from emergency.reporting.sitrep import ReportKind, SituationReport

REPORTS = ("sitrep", "compliance", "reliability", "etr-accuracy", "location-accuracy")


def add_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="the report pages' figures: sitrep, compliance, reliability, etr-accuracy, location-accuracy",
    )
    report.add_argument("name", choices=REPORTS, metavar="|".join(REPORTS))
    report.add_argument(
        "--from",
        dest="start",
        required=True,
        help="local date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM); for sitrep, the event's start",
    )
    report.add_argument(
        "--to",
        dest="end",
        help="local date (its whole day) or date-time; default now; for sitrep, the report's time",
    )
    report.add_argument("--district", help="a district code: that district only")
    report.add_argument(
        "--kind",
        choices=[k.value for k in ReportKind],
        default=ReportKind.QUICK.value,
        help="sitrep: a quick report as of --to, or the 08:00 / 17:00 update before it",
    )
    report.add_argument("--json", action="store_true")


# --- reading the arguments -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC-aware
    end: datetime  # exclusive
    first_day: date  # local days, for the reliability report
    last_day: date


def parse_moment(text: str, tz: ZoneInfo, field: str) -> tuple[datetime, bool]:
    """A local date or date-time as an aware datetime, and whether it was a date alone."""
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), time(0), tz), True
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)", field=field
        ) from None
    return (moment.replace(tzinfo=tz) if moment.tzinfo is None else moment), False


def period_of(start_text: str, end_text: str | None, now: datetime, tz: ZoneInfo) -> Period:
    start, _ = parse_moment(start_text, tz, "from")
    if end_text is None:
        end, last_day = now, now.astimezone(tz).date()
    else:
        end, whole_day = parse_moment(end_text, tz, "to")
        last_day = end.astimezone(tz).date()
        if whole_day:
            end = datetime.combine(last_day + timedelta(days=1), time(0), tz)
        elif end.astimezone(tz).time() == time(0):
            last_day -= timedelta(days=1)  # up to midnight: the day before is the last one
    if end <= start:
        raise InvalidInput("--to must come after --from", field="to")
    return Period(start.astimezone(UTC), end.astimezone(UTC), start.astimezone(tz).date(), last_day)


def district_id_of(ctx: Context, code: str | None) -> int | None:
    if code is None:
        return None
    choices = queries.compliance_choices(ctx)
    found = choices.codes.get(code.strip())
    if found is None:
        known = ", ".join(sorted(choices.codes)) or "none"
        raise InvalidInput(f"no district {code!r} (known: {known})", field="district")
    return found


# --- the reports -------------------------------------------------------------------------------


def run(args: argparse.Namespace, ctx: Context) -> int:
    period = period_of(args.start, args.end, ctx.clock.now(), ctx.tz)
    district_id = district_id_of(ctx, args.district)
    report: Callable[[argparse.Namespace, Context, Period, int | None], tuple[str, dict[str, Any]]] = {
        "sitrep": _sitrep,
        "compliance": _compliance,
        "reliability": _reliability,
        "etr-accuracy": _etr_accuracy,
        "location-accuracy": _location_accuracy,
    }[args.name]
    line, data = report(args, ctx, period, district_id)
    data = {"report": args.name, "district": args.district, **data}
    print(json.dumps(jsonable(data, ctx.tz), ensure_ascii=False) if args.json else line)
    return 0


def _sitrep(
    args: argparse.Namespace, ctx: Context, period: Period, district_id: int | None
) -> tuple[str, dict[str, Any]]:
    # The report is generated as of --to: the same figures the page showed at that moment.
    as_of = Context(ctx.db, FakeClock(min(period.end, ctx.clock.now())), ctx.actor, ctx.tz)
    report = queries.situation_report(as_of, args.kind, period.start)
    data = dataclasses.asdict(report)
    code = args.district.strip() if args.district else None
    if code is not None:
        data["districts"] = [d for d in data["districts"] if d["code"] == code]
        data["important_users"] = [u for u in data["important_users"] if u["district_code"] == code]
    return _sitrep_line(report, code), data


def _sitrep_line(report: SituationReport, code: str | None) -> str:
    if code is not None:
        line = next(d for d in report.districts if d.code == code)
        return (
            f"{code}: {line.progress.out_now:,} of {line.customers_served:,} customers out "
            f"(peak {line.progress.peak:,}), {line.outages_active} active outages"
        )
    progress = report.progress
    return (
        f"{progress.out_now:,} of {report.customers_served:,} customers out (peak {progress.peak:,}); "
        f"{report.outages_active} active outages; {len(report.important_users)} important users out; "
        f"{report.crews.deployed} crews deployed"
    )


def _compliance(
    args: argparse.Namespace, ctx: Context, period: Period, district_id: int | None
) -> tuple[str, dict[str, Any]]:
    report = queries.compliance_report(ctx, period.start, period.end, district_id=district_id)
    summary = report.summary.set_index("code")
    parts = [
        f"{row.clock_en}: {row.met}/{row.met + row.missed} met"
        for row in summary.itertuples()
        if row.enforced and row.met + row.missed
    ]
    line = f"{len(report.timings)} outages; " + ("; ".join(parts) or "no clock decided")
    line += f"; {len(report.breaches)} missed clocks"
    arrivals = report.on_site_by_source
    if not arrivals.empty:
        line += "; on site by " + ", ".join(
            f"{r.source} {r.outages}" for r in arrivals.itertuples() if r.outages
        )
    return line, {
        "outages": len(report.timings),
        "summary": report.summary,
        "on_site_by_source": arrivals,
        "breaches": report.breaches,
        "timings": report.timings,
    }


def _reliability(
    args: argparse.Namespace, ctx: Context, period: Period, district_id: int | None
) -> tuple[str, dict[str, Any]]:
    report = queries.reliability_report(ctx, period.first_day, period.last_day, district_id)
    names = report.district_names

    def with_codes(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.reset_index().assign(district=[names.get(int(i), (str(i),))[0] for i in frame.index])

    overall = report.overall.reset_index()
    t_med = report.threshold.t_med if report.threshold is not None else None
    if overall.empty:
        line = "no customers served"
    else:
        first = overall.iloc[0]
        line = f"SAIFI {first['saifi']:.3f}, SAIDI {first['saidi']:.2f} min, CAIDI {first['caidi']:.1f} min"
    line += f"; T_MED {t_med:.2f}" if t_med is not None else "; no T_MED"
    line += f"; {len(report.major_event_days)} major event days"
    return line, {
        "first_day": report.first_day,
        "last_day": report.last_day,
        "overall": overall,
        "by_district": with_codes(report.by_district),
        "by_district_without_major_events": with_codes(report.by_district_without_major_events),
        "threshold": report.threshold,
        "major_event_days": report.major_event_days,
        "running": report.running,
        "momentary_max_minutes": report.momentary_max_minutes,
    }


def _etr_accuracy(
    args: argparse.Namespace, ctx: Context, period: Period, district_id: int | None
) -> tuple[str, dict[str, Any]]:
    outcomes = queries.compliance_report(ctx, period.start, period.end, district_id=district_id).etr
    overall = etr_accuracy.etr_accuracy(outcomes)
    first = overall.iloc[0]
    share = first["share_by_last"]
    line = f"{int(first['restored'])} restored, {int(first['with_etr'])} with an ETR; " + (
        "no ETR to judge" if pd.isna(share) else f"{share:.0%} restored by the last ETR"
    )
    return line, {
        "overall": overall,
        "by_source": etr_accuracy.etr_accuracy(outcomes, "last_source"),
        "by_district": etr_accuracy.etr_accuracy(outcomes, "district"),
        "outcomes": outcomes,
    }


def _location_accuracy(
    args: argparse.Namespace, ctx: Context, period: Period, district_id: int | None
) -> tuple[str, dict[str, Any]]:
    outcomes = queries.compliance_report(ctx, period.start, period.end, district_id=district_id).location
    figures = location_accuracy.location_accuracy(outcomes)
    share = figures["first_exact_share"]
    line = f"{figures['outages']} outages with the fault found; " + (
        "no prediction to judge"
        if share is None
        else f"{share:.0%} predicted at the device found ({figures['first_too_high']} too high, "
        f"{figures['first_too_low']} too low, {figures['first_elsewhere']} elsewhere)"
    )
    return line, {"overall": figures, "outcomes": outcomes}


# --- JSON --------------------------------------------------------------------------------------


def jsonable(value: Any, tz: ZoneInfo) -> Any:
    """Plain JSON values: local times with their offset, durations in minutes, NaN as null."""
    if isinstance(value, pd.DataFrame):
        return [jsonable(row, tz) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v, tz) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), tz)
    if isinstance(value, dict):
        return {str(k): jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, tz) for v in value]
    return _scalar(value, tz)


def _scalar(value: Any, tz: ZoneInfo) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.astimezone(tz).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | timedelta):
        return value.total_seconds() / 60
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
