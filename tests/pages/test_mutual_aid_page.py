"""The mutual-aid page through the real entry script (AppTest): crews by company with their totals,
a company checked in with a head count that differs from the roster, a release that keeps a busy crew
with its reason, and a one-time link. (AppTest cannot upload a file: the roster is imported through
the command, whose checks are tested in tests/integration/test_mutual_aid.py.)"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands.mutual_aid import ImportRoster
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Crew, CrewStatus, Depot, OutageState
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.app_context import context_of
from tests.support.dispatch_actions import dispatch_crew
from tests.support.outage_records import add_outage
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
ROSTER = Path(__file__).resolve().parents[2] / "data" / "samples" / "mutual-aid-roster.csv"
LC = "临川电力有限公司"


def with_roster(url: str, district_id: int) -> None:
    db = get_database(url)
    with db.write() as session:
        for code, name_en, name_zh in (
            ("SA-PORT", "Lanhai Port Staging Area", "澜海港应急集结点"),
            ("SA-WEST", "Western Hills Staging Area", "西部山区应急集结点"),
        ):
            session.add(
                Depot(
                    code=code,
                    name_en=name_en,
                    name_zh=name_zh,
                    district_id=district_id,
                    lon=121.05,
                    lat=28.05,
                    is_staging=True,
                )
            )
    result = execute(
        context_of(db, SYSTEM_CLOCK, Actor("dispatcher", "dispatcher")), ImportRoster(ROSTER.read_bytes())
    )
    assert result.stored == 50


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    at.switch_page(page("mutual_aid.py")).run()
    assert not at.exception, at.exception
    return at


def widget(items, key: str):
    return next(w for w in items if w.key == key)


def test_a_dispatcher_checks_in_a_company_releases_it_and_makes_a_link(territory_db):
    url, territory = territory_db
    with_roster(url, territory.district_ids["W"])
    at = open_page()
    assert at.title[0].value == "Mutual-aid crews"
    headings = [h.value for h in at.subheader]
    assert any(h.startswith(f"{LC}: 22 crews,") and "0 checked in with 0 workers" in h for h in headings)

    widget(at.selectbox, "ma-ci-company").set_value(LC).run()
    go = next(b for b in at.button if b.key == "ma-ci-go")
    assert go.label.startswith(f"Check in 22 crew(s) of {LC} (LC-01, LC-02,")
    go.click().run()
    assert not at.exception, at.exception
    assert any(f"Checked in 22 crew(s) of {LC}" in s.value for s in at.success)
    with get_database(url).read() as session:
        crews = list(session.scalars(select(Crew).where(Crew.company == LC)))
    assert {c.status for c in crews} == {CrewStatus.AVAILABLE}
    assert all(c.checked_in_count == c.size for c in crews)

    # LC-01 goes to an outage; the release of all 22 keeps it, and says why.
    busy = next(c for c in crews if c.code == "LC-01")
    db = get_database(url)
    with db.write() as session:
        outage_id = add_outage(
            session, territory, "TX-1", OutageState.PREDICTED, first_report_at=SYSTEM_CLOCK.now()
        ).id
    dispatch_crew(
        db, SYSTEM_CLOCK, Actor("dispatcher", "dispatcher"), outage_id, busy.id, crew_version=busy.version
    )
    at.run()
    widget(at.selectbox, "ma-rel-company").set_value(LC).run()
    widget(at.multiselect, f"ma-rel-pick-{LC}").set_value([c.id for c in crews]).run()
    release = next(b for b in at.button if b.key == "ma-rel-go")
    assert release.label.startswith(f"Release 22 crew(s) of {LC}: LC-01")
    release.click().run()
    (said,) = [e.value for e in at.error]
    assert f"Released 21 crew(s) of {LC}" in said
    assert f"Not released: crew LC-01 is dispatched for outage {outage_id}" in said

    qy = _crew_id(url, "QY-01")
    widget(at.selectbox, "ma-link-crew").set_value(qy).run()
    next(b for b in at.button if b.key == "ma-link-go").click().run()
    assert not at.exception, at.exception
    assert any("One-time link for crew QY-01" in s.value for s in at.success)
    assert "/crew/link/" in at.code[0].value


def _crew_id(url: str, code: str) -> int:
    with get_database(url).read() as session:
        found = session.scalar(select(Crew.id).where(Crew.code == code))
    assert found is not None
    return found
