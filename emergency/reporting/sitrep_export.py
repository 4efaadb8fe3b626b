"""A situation report as the files a manager sends on: Markdown and an Excel workbook (.xlsx).

Both are built from the same tables (`report_tables`), in English or Chinese, so the two
downloads always carry the same figures. Names in the report are user-written (customer names,
warning titles): Markdown escapes them, and the workbook stores every text as text, so a name
starting with "=" is never run as a formula.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, TYPE_STRING

from emergency.core.markdown import plain
from emergency.dispatch.sla import format_duration
from emergency.reporting.sitrep import ReportKind, SituationReport


class Share(float):
    """A fraction shown as a percentage."""


Cell = int | float | str | None


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


LABELS: dict[str, tuple[str, str]] = {
    f"title.{ReportKind.QUICK}": ("Outage situation: quick report", "停电应急处置情况快报"),
    f"title.{ReportKind.MORNING}": ("Outage situation: 08:00 update", "停电应急处置情况报告（08:00）"),
    f"title.{ReportKind.EVENING}": ("Outage situation: 17:00 update", "停电应急处置情况报告（17:00）"),
    "as_of": ("Figures as of", "统计截至"),
    "event_start": ("Event started", "事件开始时间"),
    "previous": ("Previous report", "上次报告时间"),
    "generated": ("Generated", "生成时间"),
    "summary": ("Summary", "总体情况"),
    "figure": ("Figure", "项目"),
    "value": ("Value", "数值"),
    "customers_served": ("Customers served", "服务用户数"),
    "customers_out": ("Customers out now", "当前停电用户数"),
    "share_out": ("Share of customers out", "停电用户占比"),
    "peak": ("Customers out at the peak", "峰值停电用户数"),
    "peak_at": ("Peak reached at", "峰值出现时间"),
    "affected": ("Customers affected in the event", "本次事件累计停电用户数"),
    "restored": ("Customers restored in the event", "累计恢复用户数"),
    "restored_share": ("Share restored", "恢复率"),
    "restored_since": ("Customers restored since the previous report", "上次报告以来恢复用户数"),
    "outages_active": ("Outages active", "当前停电事件数"),
    "outages_in_event": ("Outages in the event", "本次事件停电事件数"),
    "outages_restored": ("Outages restored", "已恢复停电事件数"),
    "longest": ("Longest outage still active", "最长停电时长（未恢复）"),
    "mean_active": ("Average duration of active outages", "未恢复事件平均停电时长"),
    "mean_restoration": ("Average time to restore", "已恢复事件平均恢复时长"),
    "crews": ("Crews deployed", "投入抢修队伍数"),
    "workers": ("Workers deployed", "投入抢修人员数"),
    "crews_dispatched": ("Crews dispatched, not yet moving", "已派工未出发队伍"),
    "crews_en_route": ("Crews en route", "在途队伍"),
    "crews_on_site": ("Crews on site", "现场作业队伍"),
    "important": ("Important users affected", "受影响重要用户"),
    "important_total": ("Important users out", "停电重要用户数"),
    "name": ("Name", "名称"),
    "account": ("Account", "户号"),
    "grade": ("Grade", "等级"),
    "district": ("District", "区域"),
    "outage": ("Outage", "停电事件"),
    "out_since": ("Out since", "停电起始"),
    "backup": ("Backup power (h)", "自备电源（小时）"),
    "districts": ("By district", "分区情况"),
    "district_name": ("District name", "区域名称"),
    "disaster_mode": ("Disaster mode", "灾害模式"),
    "warnings": ("Warnings in force", "生效预警"),
    "disaster_districts": ("Districts in disaster mode", "灾害模式区域"),
    "warning": ("Warning", "预警"),
    "level": ("Level", "级别"),
    "readiness": ("Our readiness level", "应急响应等级"),
    "area": ("Districts", "区域"),
    "effective": ("From", "生效时间"),
    "expires": ("Until", "截止时间"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "none": ("none", "无"),
    "grade.special": ("special", "特级"),
    "grade.grade1": ("grade 1", "一级"),
    "grade.grade2": ("grade 2", "二级"),
    "grade.life_support": ("life support", "生命维持"),
    "grade.temporary": ("temporary", "临时性"),
    "level.blue": ("blue (IV)", "蓝色（IV级）"),
    "level.yellow": ("yellow (III)", "黄色（III级）"),
    "level.orange": ("orange (II)", "橙色（II级）"),
    "level.red": ("red (I)", "红色（I级）"),
    # Damage found by crews' assessments (emergency.reporting.sitrep_damage).
    "damage": ("Damage by device district", "设备受损情况（按设备所在区域）"),
    "damage_causes": ("Damage by cause", "受损原因（已勘察停电事件）"),
    "assessed": ("Outages assessed", "已勘察停电事件"),
    "not_assessed": ("Outages not assessed", "未勘察停电事件"),
    "poles_down": ("Poles down", "倒杆（基）"),
    "spans_down": ("Spans of wire down", "断线（档）"),
    "cause": ("Cause", "原因"),
    "outages": ("Outages", "停电事件数"),
    "total": ("Total", "合计"),
    "cause.tree": ("trees", "树木倒伏"),
    "cause.wind": ("wind", "大风"),
    "cause.lightning": ("lightning", "雷击"),
    "cause.flood": ("flooding", "水淹"),
    "cause.landslide": ("landslide", "山体滑坡"),
    "cause.vehicle": ("vehicle", "车辆撞击"),
    "cause.animal": ("animal", "动物"),
    "cause.fire": ("fire", "火灾"),
    "cause.equipment_failure": ("equipment failure", "设备故障"),
    "cause.third_party": ("third party", "外力破坏"),
    "cause.unknown": ("unknown", "原因不明"),
    # Crews and workers by company (mutual aid, #19 point 4)
    "companies": ("Crews by company", "分单位抢修力量"),
    "company": ("Company", "单位"),
    "own_utility": ("Our own utility", "本单位"),
    "crews_checked_in": ("Mutual-aid crews at hand", "支援队伍在岗数"),
    "workers_checked_in": ("Mutual-aid workers at hand", "支援人员在岗数"),
}


def label(key: str, language: str) -> str:
    pair = LABELS[key]
    return pair[1] if language == "zh" else pair[0]


def title(report: SituationReport, language: str) -> str:
    return label(f"title.{report.kind}", language)


def report_tables(report: SituationReport, language: str, tz: ZoneInfo) -> list[Table]:
    """The report's tables: heading times, summary, important users, districts, warnings."""

    def say(key: str) -> str:
        return label(key, language)

    def when(moment: datetime | None) -> str:
        return "—" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    def lasting(duration: timedelta | None) -> str:
        if duration is None:
            return "—"
        en, zh = format_duration(duration)
        return zh if language == "zh" else en

    def yes_no(flag: bool) -> str:
        return say("yes" if flag else "no")

    progress = report.progress
    crews = report.crews
    heading = Table(
        title(report, language),
        (say("figure"), say("value")),
        (
            (say("as_of"), when(report.as_of)),
            (say("event_start"), when(report.event_start)),
            (say("previous"), when(report.previous_at)),
            (say("generated"), when(report.generated_at)),
        ),
    )
    summary = Table(
        say("summary"),
        (say("figure"), say("value")),
        (
            (say("customers_served"), report.customers_served),
            (say("customers_out"), progress.out_now),
            (say("share_out"), Share(report.share_out)),
            (say("peak"), progress.peak),
            (say("peak_at"), when(progress.peak_at)),
            (say("affected"), progress.affected),
            (say("restored"), progress.restored),
            (say("restored_share"), Share(progress.restored_share)),
            (say("restored_since"), progress.restored_since_previous),
            (say("outages_active"), report.outages_active),
            (say("outages_in_event"), report.outages_in_event),
            (say("outages_restored"), report.outages_restored),
            (say("longest"), lasting(report.longest_active)),
            (say("mean_active"), lasting(report.mean_active)),
            (say("mean_restoration"), lasting(report.mean_restoration)),
            (say("crews"), crews.deployed),
            (say("workers"), crews.workers),
            (say("crews_dispatched"), crews.dispatched),
            (say("crews_en_route"), crews.en_route),
            (say("crews_on_site"), crews.on_site),
            (say("disaster_districts"), ", ".join(report.disaster_districts) or say("none")),
            (say("important_total"), len(report.important_users)),
            *(
                (f"{say('important_total')}: {say(f'grade.{grade}')}", count)
                for grade, count in report.important_by_grade.items()
            ),
        ),
    )
    important = Table(
        say("important"),
        tuple(say(k) for k in ("name", "account", "grade", "district", "outage", "out_since", "backup")),
        tuple(
            (
                user.name,
                user.account_no,
                say(f"grade.{user.grade}"),
                user.district_code,
                user.outage_id,
                when(user.out_since),
                user.backup_hours,
            )
            for user in report.important_users
        ),
    )
    districts = Table(
        say("districts"),
        tuple(
            say(k)
            for k in (
                "district",
                "district_name",
                "customers_served",
                "customers_out",
                "peak",
                "restored",
                "restored_since",
                "outages_active",
                "crews",
                "disaster_mode",
            )
        ),
        tuple(
            (
                line.code,
                line.name_zh if language == "zh" else line.name_en,
                line.customers_served,
                line.progress.out_now,
                line.progress.peak,
                line.progress.restored,
                line.progress.restored_since_previous,
                line.outages_active,
                line.crews_deployed,
                yes_no(line.disaster_mode),
            )
            for line in report.districts
        ),
    )
    warnings = Table(
        say("warnings"),
        tuple(
            say(k) for k in ("warning", "level", "readiness", "disaster_mode", "area", "effective", "expires")
        ),
        tuple(
            (
                w.title_zh if language == "zh" else w.title_en,
                say(f"level.{w.level}"),
                w.readiness_level,
                yes_no(w.disaster_mode),
                ", ".join(w.districts),
                when(w.effective_at),
                when(w.expires_at),
            )
            for w in report.warnings
        ),
    )
    return [
        heading,
        summary,
        important,
        districts,
        warnings,
        *damage_tables(report, language),
        company_table(report, say),
    ]


def damage_tables(report: SituationReport, language: str) -> list[Table]:
    """Damage by district (with a total row) and assessed outages by cause; none without figures."""
    damage = report.damage
    if damage is None:
        return []

    def say(key: str) -> str:
        return label(key, language)

    by_district = Table(
        say("damage"),
        tuple(
            say(k)
            for k in ("district", "district_name", "assessed", "not_assessed", "poles_down", "spans_down")
        ),
        (
            *(
                (
                    d.code,
                    d.name_zh if language == "zh" else d.name_en,
                    d.assessed,
                    d.not_assessed,
                    d.poles_down,
                    d.spans_down,
                )
                for d in damage.districts
            ),
            (
                say("total"),
                None,
                damage.outages_assessed,
                damage.outages_not_assessed,
                damage.poles_down,
                damage.spans_down,
            ),
        ),
    )
    causes = Table(
        say("damage_causes"),
        (say("cause"), say("outages")),
        tuple((say(f"cause.{cause}"), n) for cause, n in damage.by_cause.items()),
    )
    return [by_district, causes]


def company_table(report: SituationReport, say: Callable[[str], str]) -> Table:
    """Crews and workers by company: our own utility, then each mutual-aid lender."""
    return Table(
        say("companies"),
        tuple(say(k) for k in ("company", "crews", "workers", "crews_checked_in", "workers_checked_in")),
        tuple(
            (
                say("own_utility") if line.own else line.company or "",
                line.crews_deployed,
                line.workers_deployed,
                line.crews_checked_in,
                line.workers_checked_in,
            )
            for line in report.companies
        ),
    )


# --- Markdown ------------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """One line of someone's text, escaped: a line break would end a table row."""
    return plain(" ".join(text.split()), streamlit=False)


def _markdown_cell(value: Cell) -> str:
    if value is None:
        return "—"
    if isinstance(value, Share):
        return f"{value * 100:.1f} %"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return escape_markdown(value)


def to_markdown(report: SituationReport, language: str, tz: ZoneInfo) -> str:
    heading, *tables = report_tables(report, language, tz)
    lines = [f"# {escape_markdown(heading.title)}", ""]
    lines += [f"- **{escape_markdown(str(k))}**: {_markdown_cell(v)}" for k, v in heading.rows]
    for table in tables:
        lines += ["", f"## {escape_markdown(table.title)}", ""]
        if not table.rows:
            lines.append(label("none", language))
            continue
        lines.append("| " + " | ".join(escape_markdown(h) for h in table.headers) + " |")
        lines.append("|" + "|".join("---" for _ in table.headers) + "|")
        lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


# --- Excel ------------------------------------------------------------------------------------------

SHEET_TITLE_LIMIT = 31  # Excel's limit on a sheet's name


def to_xlsx(report: SituationReport, language: str, tz: ZoneInfo) -> bytes:
    """A workbook with one sheet per table; counts are numbers, shares are percentages."""
    workbook = Workbook()
    heading, summary, *rest = report_tables(report, language, tz)
    sheet = workbook.active
    sheet.title = _sheet_name(summary.title)
    _write_rows(sheet, [(heading.title,), *heading.rows, (), summary.headers, *summary.rows])
    for table in rest:
        _write_rows(workbook.create_sheet(_sheet_name(table.title)), [table.headers, *table.rows])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_name(text: str) -> str:
    return re.sub(r"[\\/*?:\[\]]", " ", text)[:SHEET_TITLE_LIMIT]


def _write_rows(sheet: object, rows: list[tuple[Cell, ...]]) -> None:
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=value)  # type: ignore[attr-defined]
            if isinstance(value, Share):
                cell.value = float(value)
                cell.number_format = "0.0%"
            elif isinstance(value, str):
                # Text stays text: openpyxl would store "=..." as a formula.
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
                cell.data_type = TYPE_STRING
    for column in sheet.columns:  # type: ignore[attr-defined]
        width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 10), 60)  # type: ignore[attr-defined]
