"""Hostile payloads against the uploads and imports: warnings (form and CAP XML), warning areas
(GeoJSON), the important users CSV, the territory import and `ingest` (CSV, JSON Lines).

Text is kept as written or refused with a message naming the field (or file line); XML is never
expanded or fetched; oversized files are refused before parsing; nothing partial is stored.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.warnings import CreateWarning, ImportCapAlert, IssueWarning
from emergency.core.actor import CLI_ADMIN, Actor
from emergency.core.auth import create_user
from emergency.core.errors import AuthenticationFailed, InvalidInput
from emergency.core.models import Crew, Customer, District, Report, User, Warning
from emergency.core.tokens import create_token
from emergency.intake.ingest_file import CLI_INTAKE
from emergency.network.importer import ImportRejected
from emergency.warnings.area import DistrictsArea, PolygonArea
from emergency.warnings.cap import NS, alert_xml
from emergency.warnings.lifecycle import WarningInput
from tests.security.payloads import (
    DEEP_JSON,
    HOSTILE_NUMBERS,
    HOSTILE_XML,
    HUGE_TEXT,
    INERT_TEXT,
    MIB,
    REFUSED_TEXT,
    square_ring,
)
from tests.support.app_calls import log_in
from tests.support.app_context import context_of
from tests.support.commands import import_csv, import_territory, ingest_file
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
Q = f"{{{NS}}}"


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


@pytest.fixture
def small(sqlite_database, clock):
    return build_small_territory(sqlite_database, clock)


def count(db, model) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def warning_input(clock, area=None, **texts: str) -> WarningInput:
    fields = {"title_en": "Rainstorm", "title_zh": "暴雨", "text_en": "", "text_zh": ""} | texts
    return WarningInput(
        hazard="rainstorm",
        level="orange",
        readiness_level=3,
        area=area or DistrictsArea(("W",)),
        effective_at=clock.now(),
        expires_at=clock.now() + timedelta(hours=6),
        **fields,
    )


# --- warnings typed into the form, and their CAP messages ---------------------------------------


def test_warning_texts_are_kept_as_written_and_escaped_in_cap(database, clock, territory):
    for payload in INERT_TEXT.values():
        warning_id = execute(
            context_of(database, clock, MANAGER),
            CreateWarning(
                warning_input(clock, title_en=payload, title_zh=payload, text_en=payload, text_zh=payload)
            ),
        )
        execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
        with database.read() as session:
            row = session.get(Warning, warning_id)
            assert (row.title_en, row.title_zh, row.text_en, row.text_zh) == (payload,) * 4
            document = alert_xml(session, row)
        # The CAP message is well-formed XML whose text reads back as the payload: escaped, not markup.
        alert = ET.fromstring(document)
        assert {i.findtext(f"{Q}headline") for i in alert.findall(f"{Q}info")} == {payload}
        assert {i.findtext(f"{Q}description") for i in alert.findall(f"{Q}info")} == {payload}


def test_warning_texts_with_control_characters_or_a_megabyte_are_refused(database, clock, territory):
    fields = ["title_en", "title_zh", "text_en", "text_zh"]
    for field in fields:
        for name, payload in [*REFUSED_TEXT.items(), ("1 MiB", HUGE_TEXT)]:
            with pytest.raises(InvalidInput) as refused:
                execute(
                    context_of(database, clock, MANAGER),
                    CreateWarning(warning_input(clock, **{field: payload})),
                )
            assert refused.value.field == field, (field, name)
    assert count(database, Warning) == 0


# --- CAP XML import -----------------------------------------------------------------------------

CAP_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>meteo@example.cn</sender>
  <sent>{sent}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>en</language>
    <category>Met</category>
    <event>Typhoon</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Likely</certainty>
    <headline>{headline}</headline>
    <description>{description}</description>
    <area>
      <areaDesc>{description}</areaDesc>
      <polygon>28.0,121.12 28.0,121.19 28.09,121.19 28.09,121.12 28.0,121.12</polygon>
    </area>
  </info>
</alert>
"""


def cap_document(clock, n: int = 0, sent: str | None = None, text: str = "Typhoon") -> bytes:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return CAP_TEMPLATE.format(
        identifier=f"CAP-{n}",
        sent=sent or clock.now().isoformat(),
        headline=escaped[:200],
        description=escaped,
    ).encode()


def test_cap_import_keeps_hostile_text_inert(database, clock, territory):
    for n, payload in enumerate(INERT_TEXT.values()):
        warning_id = execute(
            context_of(database, clock, MANAGER), ImportCapAlert(cap_document(clock, n, text=payload))
        ).warning_id
        with database.read() as session:
            row = session.get(Warning, warning_id)
            assert (row.title_en, row.text_en) == (payload, payload)


def test_cap_import_never_expands_or_fetches_entities(sqlite_database, clock, small):
    for name, document in HOSTILE_XML.items():
        started = time.perf_counter()
        with pytest.raises(InvalidInput) as refused:
            execute(context_of(sqlite_database, clock, MANAGER), ImportCapAlert(document))
        assert refused.value.field == "cap", name
        assert time.perf_counter() - started < 1, f"{name}: refused before anything was expanded"
    assert count(sqlite_database, Warning) == 0


def test_cap_import_refuses_hostile_times_sizes_and_text(sqlite_database, clock, small):
    refused_documents = {
        "sent in year 9999": cap_document(clock, sent="9999-12-31T23:59:59+08:00"),
        "sent in year 1": cap_document(clock, sent="0001-01-01T00:00:00+00:00"),
        "SQL as a time": cap_document(clock, sent="2026-07-01'; DROP TABLE warnings;--"),
        "NUL as a character reference": cap_document(clock, text="&#0;"),
        "terminal escape reference": cap_document(clock, text="&#27;[2J"),
        "2 MiB": cap_document(clock, text="x" * (2 * MIB)),
    }
    for name, document in refused_documents.items():
        document = document.replace(b"&amp;#", b"&#")  # the references above, as the sender wrote them
        with pytest.raises(InvalidInput) as refused:
            execute(context_of(sqlite_database, clock, MANAGER), ImportCapAlert(document))
        assert refused.value.field and str(refused.value), name
    assert count(sqlite_database, Warning) == 0


# --- GeoJSON warning areas ----------------------------------------------------------------------


def polygon(ring) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def test_geojson_areas_that_are_hostile_are_refused(sqlite_database, clock, small):
    square = square_ring(4)
    hostile = {
        "two million vertices": '{"type":"Polygon","coordinates":[['
        + "[121.0,28.0]," * 2_000_000
        + "[121.0,28.0]]]}",
        "25,000 vertices under the size limit": json.dumps(
            {"type": "Polygon", "coordinates": [square_ring(25_000)]}, separators=(",", ":")
        ).replace(".0,", ","),
        "deep nesting": DEEP_JSON,
        "nested geometry collections": '{"type": "GeometryCollection", "geometries": [' * 5000 + "]}" * 5000,
        **{
            f"a vertex at {name}": polygon([square[0], [value, 28.05], *square[1:]])
            for name, value in HOSTILE_NUMBERS.items()
        },
        "NaN literal": polygon(square).replace("121.02, 28.02]", "NaN, NaN]", 1),
        "a self-crossing bow tie": polygon(
            [[121.0, 28.0], [121.1, 28.1], [121.1, 28.0], [121.0, 28.1], [121.0, 28.0]]
        ),
        "script in properties only": json.dumps(
            {"type": "Feature", "properties": {"name": INERT_TEXT["script tag"]}, "geometry": None}
        ),
        "broken UTF-8 (decoded with replacement, as the page reads it)": b'{"type": "\xff\xfe"}'.decode(
            "utf-8", errors="replace"
        ),
    }
    for name, geojson in hostile.items():
        started = time.perf_counter()
        with pytest.raises(InvalidInput) as refused:
            execute(
                context_of(sqlite_database, clock, MANAGER),
                CreateWarning(warning_input(clock, area=PolygonArea(geojson))),
            )
        assert refused.value.field in ("geojson", "area"), (name, refused.value.field)
        assert time.perf_counter() - started < 5, name
    assert count(sqlite_database, Warning) == 0


# --- the important users register ---------------------------------------------------------------


def register_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["account_no", "grade", "kind", "backup_hours", "contact_name", "contact_phone"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")  # a lone surrogate as a careless encoder writes it


def test_important_user_contacts_are_kept_as_written(database, clock, territory):
    accounts = [a for group in territory.account_by_transformer.values() for a in group]
    payloads = list(INERT_TEXT.values())
    rows = [
        {"account_no": account, "grade": "grade2", "kind": "commercial", "contact_name": payload}
        for account, payload in zip(accounts, payloads, strict=False)
    ]

    result = import_csv(database, clock, MANAGER, register_csv(rows))

    assert result.problems == ()
    with database.read() as session:
        kept = {a: c for a, c in session.execute(select(Customer.account_no, Customer.contact_name))}
    assert {r["account_no"]: kept[r["account_no"]] for r in rows} == {
        r["account_no"]: r["contact_name"] for r in rows
    }


def test_important_user_imports_refuse_hostile_rows_and_store_nothing(database, clock, territory):
    account = territory.account_by_transformer["TX-4"][0]
    row = {"account_no": account, "grade": "grade2", "kind": "commercial"}
    bad_rows = [
        *({**row, "contact_name": payload} for payload in ["x" * 121, *REFUSED_TEXT.values()]),
        *({**row, "account_no": payload} for payload in [*INERT_TEXT.values(), *REFUSED_TEXT.values()]),
        *({**row, "backup_hours": str(value)} for value in HOSTILE_NUMBERS.values()),
        {**row, "contact_phone": INERT_TEXT["CSV formula"]},
    ]
    for bad in bad_rows:
        try:
            result = import_csv(database, clock, MANAGER, register_csv([bad]))
        except InvalidInput as refused:  # the file as a whole (text that is not UTF-8)
            assert refused.field == "file", bad
            continue
        assert result.stored == 0 and result.problems, bad
    whole_files = {
        "broken UTF-8": register_csv([]) + b"\xff\xfe,grade1,,,,\n",
        "over 1 MB": register_csv([row]) + b"x" * 1_000_001,
    }
    for name, content in whole_files.items():
        with pytest.raises(InvalidInput) as refused:
            import_csv(database, clock, MANAGER, content)
        assert refused.value.field == "file", name
    with database.read() as session:
        grade = session.scalar(select(Customer.importance).where(Customer.account_no == account))
    assert grade in (None, "none"), "no row of a refused file is stored"


# --- the territory import -----------------------------------------------------------------------


def copy_samples(tmp_path: Path) -> dict[str, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return {p.name.split(".")[0]: Path(shutil.copy(p, tmp_path / p.name)) for p in SAMPLES.iterdir()}


def edit_csv(path: Path, column: str, value: str, row: int = 0) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[row][column] = value
    with path.open("w", encoding="utf-8", newline="", errors="surrogatepass") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def territory_files(files: dict[str, Path]) -> dict[str, Path]:
    return {k: files[k] for k in ("districts", "network", "customers", "crews")}


def test_territory_names_are_imported_as_written(database, clock, tmp_path):
    files = copy_samples(tmp_path)
    payloads = list(INERT_TEXT.values())
    edit_csv(files["customers"], "name", payloads[0])
    edit_csv(files["crews"], "name", payloads[1])
    edit_csv(files["network"], "name", payloads[2])

    import_territory(database, clock, CLI_ADMIN, **territory_files(files))

    with database.read() as session:
        assert session.scalar(select(func.count()).where(Customer.name == payloads[0])) == 1
        assert session.scalar(select(func.count()).where(Crew.name == payloads[1])) == 1


def test_territory_files_with_hostile_content_are_refused_whole(database, clock, tmp_path):
    hostile: dict[str, tuple[str, str, str]] = {
        **{f"customer name: {n}": ("customers", "name", p) for n, p in REFUSED_TEXT.items()},
        **{f"crew name: {n}": ("crews", "name", p) for n, p in REFUSED_TEXT.items()},
        **{f"account: {n}": ("customers", "account_no", p) for n, p in REFUSED_TEXT.items()},
        "customer name of 1 MiB": ("customers", "name", HUGE_TEXT),
        **{f"longitude {n}": ("customers", "lon", str(v)) for n, v in HOSTILE_NUMBERS.items()},
    }
    for name, (kind, column, value) in hostile.items():
        files = copy_samples(tmp_path / name.replace(" ", "_").replace(":", ""))
        edit_csv(files[kind], column, value)
        with pytest.raises(ImportRejected) as refused:
            import_territory(database, clock, CLI_ADMIN, **territory_files(files))
        assert refused.value.errors, name
    assert count(database, Customer) == 0 and count(database, District) == 0


# --- `ingest`: CSV and JSON Lines files of reports ----------------------------------------------


def test_ingest_keeps_inert_text_and_lists_every_hostile_line(database, clock, territory, tmp_path):
    account = territory.account_by_transformer["TX-4"][0]
    good = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "external_id": f"ING-{n}",
            "account_no": account,
            "description": p,
        }
        for n, p in enumerate(INERT_TEXT.values())
    ]
    lines = [json.dumps(item, ensure_ascii=False) for item in good]
    hostile_lines = [
        json.dumps({**good[0], "external_id": "ING-NUL", "description": REFUSED_TEXT["NUL byte"]}),
        json.dumps(
            {**good[0], "external_id": "ING-SURROGATE", "description": REFUSED_TEXT["lone surrogate"]}
        ),
        json.dumps({**good[0], "external_id": "ING-HUGE-LON", "account_no": None, "lon": 10**400, "lat": 28}),
        '{"channel": "hotline", "kind": "no_power", "lon": NaN, "lat": 28}',
        DEEP_JSON,
        '{"channel": "hotline", "description": "\udcff"}',
        "x" * (2 * MIB),
    ]
    path = tmp_path / "reports.jsonl"
    path.write_bytes(("\n".join(lines + hostile_lines) + "\n").encode("utf-8", "surrogateescape"))

    summary = ingest_file(database, clock, CLI_INTAKE, path)

    problem_lines = sorted({p.line for p in summary.problems})
    assert problem_lines == list(range(len(lines) + 1, len(lines) + len(hostile_lines) + 1)), summary.problems
    with database.read() as session:
        kept = {e: d for e, d in session.execute(select(Report.external_id, Report.description))}
    assert kept == {item["external_id"]: item["description"] for item in good}


def test_ingest_csv_keeps_formulas_as_text_and_refuses_broken_lines(database, clock, territory, tmp_path):
    account = territory.account_by_transformer["TX-5"][0]
    header = "channel,external_id,kind,account_no,description\n"
    rows = [
        f'hotline,CSV-1,no_power,{account},"{INERT_TEXT["CSV formula"].replace(chr(34), chr(34) * 2)}"\n',
        f"hotline,CSV-2,no_power,{account},@SUM(1+1)\n",
        f"hotline,CSV-3,no_power,{account},caf\xe9 broken\n",
        f"hotline,CSV-4,no_power,{account},nul\x00byte\n",
    ]
    path = tmp_path / "reports.csv"
    path.write_bytes(
        header.encode() + rows[0].encode() + rows[1].encode() + rows[2].encode("latin-1") + rows[3].encode()
    )

    summary = ingest_file(database, clock, CLI_INTAKE, path)

    assert sorted({p.line for p in summary.problems}) == [4, 5], summary.problems
    with database.read() as session:
        kept = {e: d for e, d in session.execute(select(Report.external_id, Report.description))}
    assert kept == {"CSV-1": INERT_TEXT["CSV formula"], "CSV-2": "@SUM(1+1)"}


# --- staff names: logins, users and API tokens --------------------------------------------------


def test_a_hostile_login_is_the_same_refusal_as_a_wrong_password(database, clock):
    with database.write() as session:
        create_user(session, clock, CLI_ADMIN, "dispatcher", "a-long-enough-password", "dispatcher")
    # Each refusal verifies a password hash (so a wrong name takes as long as a wrong password): a few.
    for payload in [INERT_TEXT["SQL fragment"], *REFUSED_TEXT.values(), "x" * 65_536, "dispatcher\x00"]:
        with pytest.raises(AuthenticationFailed):
            log_in(database, clock, payload, payload)
        with pytest.raises(AuthenticationFailed):
            log_in(database, clock, "dispatcher", payload)


def test_staff_and_token_names_refuse_anything_but_plain_names(database, clock):
    for payload in [*INERT_TEXT.values(), *REFUSED_TEXT.values(), HUGE_TEXT]:
        with pytest.raises(InvalidInput) as user, database.write() as session:
            create_user(session, clock, CLI_ADMIN, payload, "a-long-enough-password", "dispatcher")
        with pytest.raises(InvalidInput) as token, database.write() as session:
            create_token(session, clock, CLI_ADMIN, payload, "intake")
        assert (user.value.field, token.value.field) == ("username", "name"), payload
    assert count(database, User) == 0
