"""Mutual-aid crews (#19 point 4): a lender's roster imported all or nothing, checked in at the staging
depot, dispatched by the storm plan like our own crews, released at the end; their leaders' one-time links.
On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.mutual_aid import (
    CheckInCrews,
    CreateCrewLink,
    ImportRoster,
    ReleaseCrews,
    UseCrewLink,
)
from emergency.app.queries import mutual_aid as queries
from emergency.app.queries.dispatch import staff_layers
from emergency.core import staff_sessions
from emergency.core.actor import PUBLIC, Actor
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.field_models import CrewLink
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    Crew,
    CrewKind,
    CrewStatus,
    Depot,
    Device,
    Outage,
    User,
)
from emergency.dispatch import mutual_aid
from emergency.dispatch.crew_links import LinkSignIn, LinkState
from emergency.dispatch.mutual_aid import CheckIn
from emergency.dispatch.plan import recommend_crews, storm_plan
from emergency.reporting.sitrep import build_report
from emergency.reporting.sitrep_export import report_tables, to_markdown
from tests.support.app_context import SHANGHAI, context_of
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import apply_plan, dispatch_crew, set_crew_available, set_crew_off_duty
from tests.support.small_territory import build_small_territory

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
ALICE = Actor("alice", "dispatcher")
MANAGER = Actor("meng", "manager")
HOTLINE = Actor("hotline-gateway", "intake")
PORT = (121.15, 28.05)  # east, beside TX-4 and TX-5
WEST = (121.04, 28.06)


@pytest.fixture
def territory(database, clock):
    built = build_small_territory(database, clock)
    with database.write() as session:
        for code, name_en, name_zh, (lon, lat), district in (
            ("SA-PORT", "Lanhai Port Staging Area", "澜海港应急集结点", PORT, "E"),
            ("SA-WEST", "Western Hills Staging Area", "西部山区应急集结点", WEST, "W"),
        ):
            session.add(
                Depot(
                    code=code,
                    name_en=name_en,
                    name_zh=name_zh,
                    district_id=built.district_ids[district],
                    lon=lon,
                    lat=lat,
                    is_staging=True,
                )
            )
    return built


def roster(database, clock, content: bytes, filename: str = "roster.csv", actor: Actor = ALICE):
    return execute(context_of(database, clock, actor), ImportRoster(content, filename))


def crews_of(database, company: str | None = None) -> list[Crew]:
    with database.read() as session:
        query = select(Crew).where(Crew.company.is_not(None)).order_by(Crew.code)
        if company is not None:
            query = query.where(Crew.company == company)
        return list(session.scalars(query))


def crew_count(database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(Crew)) or 0


def outage_at(database, clock, territory, transformer: str) -> int:
    """Two customers of a transformer call; the active outage that covers them."""
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": account,
            "reported_at": clock.now().isoformat(),
        }
        for account in territory.account_by_transformer[transformer][:2]
    ]
    submit_reports(database, clock, HOTLINE, calls)
    with database.read() as session:
        path, device = set(), session.get(Device, territory.device_ids[transformer])
        while device is not None:
            path.add(device.id)
            device = session.get(Device, device.parent_id) if device.parent_id else None
        found = session.scalar(
            select(Outage.id).where(Outage.device_id.in_(path), Outage.state.in_(ACTIVE_OUTAGE_STATES))
        )
    assert found is not None
    return found


def check_in_all(database, clock, crews: list[Crew], counts: dict[str, int] | None = None) -> tuple[str, ...]:
    arrivals = tuple(CheckIn(c.id, c.version, (counts or {}).get(c.code, c.size)) for c in crews)
    return execute(context_of(database, clock, ALICE), CheckInCrews(arrivals))


def test_fifty_crews_import_check_in_and_the_storm_plan_dispatches_them(database, clock, territory):
    content = (SAMPLES / "mutual-aid-roster.csv").read_bytes()
    started = time.perf_counter()
    result = roster(database, clock, content)
    elapsed = time.perf_counter() - started

    assert result.problems == () and result.stored == 50
    assert elapsed < 3.0, f"a 50-crew roster took {elapsed:.2f} s"
    assert [c for c, _, _ in result.companies] == ["临川电力有限公司", "青屿供电公司"]
    crews = crews_of(database)
    assert len(crews) == 50
    assert {c.status for c in crews} == {CrewStatus.OFF_DUTY}, "nobody is offered before check-in"
    qy01 = next(c for c in crews if c.code == "QY-01")
    assert (qy01.company, qy01.leader_name, qy01.staging_site) == ("青屿供电公司", "程志强", "SA-PORT")
    assert (qy01.lon, qy01.lat) == PORT and qy01.roster_batch == result.batch
    assert {c.staging_site for c in crews if c.company == "临川电力有限公司"} == {"SA-WEST"}
    kinds = {c.code: c.kind for c in crews}
    assert kinds["QY-01"] == CrewKind.LINE and kinds["QY-03"] == CrewKind.CABLE
    with database.read() as session:
        imported = session.scalar(select(func.count()).where(AuditEvent.action == "crew.import"))
        assert imported == 50

    # Our own crews stand down: the plan must use the mutual-aid crews.
    for code in ("C1", "C2"):
        set_crew_off_duty(database, clock, MANAGER, territory.crew_ids[code])
    outages = [outage_at(database, clock, territory, tx) for tx in ("TX-1", "TX-3", "TX-4")]
    with database.read() as session:
        assert storm_plan(session, clock, SHANGHAI).rows == (), "not checked in: not planned"

    clock.advance(minutes=5)
    checked = check_in_all(database, clock, crews, counts={"QY-01": 4})
    assert len(checked) == 50
    qy01 = next(c for c in crews_of(database) if c.code == "QY-01")
    assert (qy01.status, qy01.checked_in_count, qy01.size) == (CrewStatus.AVAILABLE, 4, 6)
    assert qy01.checked_in_at == clock.now()

    with database.read() as session:
        plan = storm_plan(session, clock, SHANGHAI)
        offered = recommend_crews(session, clock, outages[2])
    assert plan.crews_available == 50
    assert {r.outage_id for r in plan.rows} == set(outages)
    mutual = {c.id for c in crews}
    assert {r.crew_id for r in plan.rows} <= mutual
    assert offered and offered[0].crew_id in mutual
    east = next(r for r in plan.rows if r.outage_id == outages[2])
    assert next(c for c in crews if c.id == east.crew_id).staging_site == "SA-PORT", "the nearer staging site"

    results = apply_plan(database, clock, ALICE, plan.rows)
    assert all(r.dispatched is not None for r in results)
    busy = {c.code for c in crews_of(database) if c.status == CrewStatus.DISPATCHED}
    assert len(busy) == 3

    # The situation report counts crews and workers by company, our own utility as such.
    clock.advance(minutes=1)
    with database.read() as session:
        report = build_report(session, "quick", clock.now() - timedelta(hours=1), clock.now(), SHANGHAI)
    dispatched = {c.code: c for c in crews_of(database) if c.status == CrewStatus.DISPATCHED}
    lines = {line.company: line for line in report.companies}
    assert report.companies[0].own and report.companies[0].crews_deployed == 0
    assert set(lines) == {None, "临川电力有限公司", "青屿供电公司"}
    assert sum(line.crews_deployed for line in report.companies) == 3 == report.crews.deployed
    qy = lines["青屿供电公司"]
    qy_crews = [c for c in crews if c.company == "青屿供电公司"]
    assert qy.crews_checked_in == 28
    assert qy.workers_checked_in == sum(c.size for c in qy_crews) - 2, "QY-01 counted 4 of its 6"
    assert qy.crews_deployed == sum(1 for c in dispatched.values() if c.company == "青屿供电公司")
    tables = {table.title: table for table in report_tables(report, "zh", SHANGHAI)}
    rows = tables["分单位抢修力量"].rows
    assert rows[0][0] == "本单位" and [r[0] for r in rows[1:]] == ["临川电力有限公司", "青屿供电公司"]
    assert "分单位抢修力量" in to_markdown(report, "zh", SHANGHAI)


def test_a_bad_roster_is_listed_row_by_row_and_nothing_is_written(database, clock, territory):
    good = (SAMPLES / "mutual-aid-roster.csv").read_bytes()
    assert roster(database, clock, good).stored == 50
    before = crew_count(database)
    bad = "\n".join(
        [
            "单位,班组,负责人,电话,人数,技能,车辆,集结点",
            "东屿电力,DY-01,陈立,13812345678,5,线路抢修,工程车1辆,SA-PORT",  # row 2: good
            "东屿电力,DY-02,,13812345679,5,线路抢修,,SA-PORT",  # row 3: no leader
            "东屿电力,DY-03,李强,12345,5,,,SA-PORT",  # row 4: phone
            "东屿电力,DY-04,王刚,13812345670,zero,,,SA-PORT",  # row 5: size
            "东屿电力,DY-01,赵敏,13812345671,4,,,SA-PORT",  # row 6: repeats row 2
            "东屿电力,QY-01,孙浩,13812345672,4,,,SA-PORT",  # row 7: already in use
            "东屿电力,DY-07,周平,0574-87654321,4,,,火星集结点",  # row 8: unknown staging site
            "东屿电力,DY-08,吴新,+86 138 1234 5673,6,电缆,,西部山区应急集结点",  # row 9: good
        ]
    ).encode()

    result = roster(database, clock, bad)

    assert result.stored == 0
    assert [(p.line, p.subject, p.field) for p in result.problems] == [
        (3, "DY-02", "leader"),
        (4, "DY-03", "phone"),
        (5, "DY-04", "size"),
        (6, "DY-01", "crew"),
        (7, "QY-01", "crew"),
        (8, "DY-07", "staging_site"),
    ]
    assert "repeats row 2" in result.problems[3].reason
    assert "already in use" in result.problems[4].reason
    assert "'火星集结点'" in result.problems[5].reason
    assert crew_count(database) == before, "nothing half-loaded"


def test_the_same_roster_twice_is_refused_with_when_it_was_imported(database, clock, territory):
    content = (SAMPLES / "mutual-aid-roster.csv").read_bytes()
    first = roster(database, clock, content)
    again = roster(database, clock, content)
    assert (again.stored, len(again.problems)) == (0, 1)
    assert "already imported" in again.problems[0].reason and "by alice" in again.problems[0].reason
    assert f"batch {first.batch}" in again.problems[0].reason
    assert crew_count(database) == 3 + 50


def test_the_xlsx_roster_with_chinese_headers_imports_the_same_crews(database, clock, territory):
    result = roster(database, clock, (SAMPLES / "mutual-aid-roster.xlsx").read_bytes(), "名单.xlsx")
    assert result.problems == () and result.stored == 50
    qy01 = next(c for c in crews_of(database) if c.code == "QY-01")
    # The phone was a number cell; it is stored as the digits, not "13857823039.0".
    assert qy01.phone == "13857823039"


def test_release_keeps_a_crew_with_open_work_and_says_why(database, clock, territory):
    roster(database, clock, (SAMPLES / "mutual-aid-roster.csv").read_bytes())
    lc = crews_of(database, "临川电力有限公司")
    check_in_all(database, clock, lc)
    outage_id = outage_at(database, clock, territory, "TX-1")
    working = lc[0]
    current = {c.id: c for c in crews_of(database)}
    dispatch_crew(database, clock, ALICE, outage_id, working.id, crew_version=current[working.id].version)
    current = {c.id: c for c in crews_of(database)}

    result = execute(
        context_of(database, clock, MANAGER), ReleaseCrews(tuple((c.id, current[c.id].version) for c in lc))
    )

    assert working.code not in result.released and len(result.released) == len(lc) - 1
    ((code, reason),) = result.refused
    assert code == working.code and f"dispatched for outage {outage_id}" in reason
    after = {c.code: c for c in crews_of(database, "临川电力有限公司")}
    assert after[lc[1].code].status == CrewStatus.OFF_DUTY and after[lc[1].code].released_at == clock.now()
    assert after[working.code].released_at is None
    with database.read() as session:
        offered = {o.crew_id for o in recommend_crews(session, clock, outage_id, limit=50)}
    assert not offered & {c.id for c in lc}
    with pytest.raises(Conflict, match="released"):
        check_in_all(database, clock, [after[lc[1].code]])
    # Nor does the console's "on duty" bring a released crew back, or one not yet checked in.
    with pytest.raises(Conflict, match="was released; it is no longer offered"):
        set_crew_available(database, clock, ALICE, after[lc[1].code].id)
    waiting = crews_of(database, "青屿供电公司")[0]
    with pytest.raises(Conflict, match="has not checked in at SA-PORT yet"):
        set_crew_available(database, clock, ALICE, waiting.id)


def test_check_in_refuses_a_stale_version_and_a_second_check_in(database, clock, territory):
    roster(database, clock, (SAMPLES / "mutual-aid-roster.csv").read_bytes())
    crew = crews_of(database, "青屿供电公司")[0]
    with pytest.raises(Conflict, match="changed by someone else"):
        execute(context_of(database, clock, ALICE), CheckInCrews((CheckIn(crew.id, crew.version + 1, 5),)))
    ctx = context_of(database, clock, ALICE)
    local_now = clock.now().astimezone(SHANGHAI)
    with pytest.raises(InvalidInput, match="in the future"):
        execute(ctx, CheckInCrews((CheckIn(crew.id, crew.version, 5),), local_now + timedelta(minutes=5)))
    with pytest.raises(InvalidInput, match="more than 24 hours ago"):
        execute(ctx, CheckInCrews((CheckIn(crew.id, crew.version, 5),), local_now - timedelta(hours=25)))
    with pytest.raises(InvalidInput, match="head count must be 1 to 50"):
        execute(ctx, CheckInCrews((CheckIn(crew.id, crew.version, 0),)))
    # Arrived 40 minutes ago, entered now, as the page sends it: local time, kept as that moment.
    execute(ctx, CheckInCrews((CheckIn(crew.id, crew.version, 5),), local_now - timedelta(minutes=40)))
    again = crews_of(database, "青屿供电公司")[0]
    assert (
        again.checked_in_at == clock.now() - timedelta(minutes=40)
        and again.position_at == again.checked_in_at
    )
    with pytest.raises(Conflict, match="already checked in"):
        check_in_all(database, clock, [again])
    with pytest.raises(PermissionDenied):
        roster(database, clock, b"", actor=Actor("ada", "admin"))


def test_a_one_time_link_signs_the_leader_in_once(database, clock, territory):
    roster(database, clock, (SAMPLES / "mutual-aid-roster.csv").read_bytes())
    crew = crews_of(database, "青屿供电公司")[0]
    link = execute(context_of(database, clock, ALICE), CreateCrewLink(crew.id))
    with database.read() as session:
        stored = session.scalar(select(CrewLink).where(CrewLink.crew_id == crew.id))
        assert stored is not None and link.token not in stored.token_hash, "only the hash is stored"
        assert stored.expires_at == clock.now() + timedelta(hours=24)
    public = context_of(database, clock, PUBLIC)
    assert queries.crew_link_state(public, link.token).state == LinkState.VALID

    signed = execute(public, UseCrewLink(link.token, "phone"))

    assert isinstance(signed, LinkSignIn) and signed.crew_id == crew.id
    with database.read() as session:
        found = staff_sessions.find_session(session, token=signed.session_token)
        assert found is not None and found.actor.role == "crew" and found.ended_at is None
        user = session.scalar(select(User).where(User.username == found.actor.username))
        assert user is not None and user.crew_id == crew.id and user.display_name == crew.leader_name
    assert execute(public, UseCrewLink(link.token)) == LinkState.USED

    # A second link reuses the leader's account; an expired one signs nobody in.
    second = execute(context_of(database, clock, ALICE), CreateCrewLink(crew.id))
    again = execute(public, UseCrewLink(second.token))
    assert isinstance(again, LinkSignIn) and again.actor == signed.actor
    late = execute(context_of(database, clock, ALICE), CreateCrewLink(crew.id))
    clock.advance(hours=24)
    assert execute(public, UseCrewLink(late.token)) == LinkState.EXPIRED
    assert execute(public, UseCrewLink("not-a-token")) == LinkState.UNKNOWN
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.crew_id == crew.id)) == 1

    # Released, the crew's leader is signed out everywhere and no link signs them in again.
    unused = execute(context_of(database, clock, ALICE), CreateCrewLink(crew.id))
    current = next(c for c in crews_of(database) if c.id == crew.id)
    execute(context_of(database, clock, ALICE), ReleaseCrews(((crew.id, current.version),)))
    with database.read() as session:
        ended = staff_sessions.find_session(session, token=signed.session_token)
        assert ended is not None and ended.ended_at is not None and not ended.user_active
    assert execute(public, UseCrewLink(unused.token)) == LinkState.RELEASED


def test_the_page_query_lists_crews_by_company_with_their_state(database, clock, territory):
    roster(database, clock, (SAMPLES / "mutual-aid-roster.csv").read_bytes())
    crew = crews_of(database, "青屿供电公司")[0]
    check_in_all(database, clock, [crew], counts={crew.code: 3})
    execute(context_of(database, clock, ALICE), CreateCrewLink(crew.id))
    rows = queries.mutual_aid_crews(context_of(database, clock, ALICE))
    assert [r.company for r in rows][:22] == ["临川电力有限公司"] * 22
    row = next(r for r in rows if r.crew_id == crew.id)
    assert (row.checked_in_count, row.status, row.links_made, row.link_used_at) == (3, "available", 1, None)
    # The map's crew layer (its tooltip shows the name) and the console's crew lists name the company.
    layer = staff_layers(context_of(database, clock, ALICE), False, False)["crews"]
    names = {f["properties"]["code"]: f["properties"]["name"] for f in layer["features"]}
    assert names[crew.code] == f"青屿供电公司 · {crew.leader_name}"
    depots = queries.staging_depots(context_of(database, clock, ALICE))
    assert [d.code for d in depots][:2] == ["SA-PORT", "SA-WEST"]


def test_a_roster_written_by_someone_else_at_the_same_moment_is_refused_whole(
    database, clock, territory, monkeypatch
):
    content = (SAMPLES / "mutual-aid-roster.csv").read_bytes()
    assert roster(database, clock, content).stored == 50
    # The second import's checks ran before the first one's crews were stored (a race): the unique
    # crew codes stop the write, and nothing of it stays.
    monkeypatch.setattr(mutual_aid, "_earlier_import", lambda session, batch: None)
    monkeypatch.setattr(mutual_aid, "_existing_codes", lambda session, codes: set())
    with pytest.raises(Conflict, match="at the same moment; nothing was imported"):
        roster(database, clock, content)
    assert crew_count(database) == 3 + 50
