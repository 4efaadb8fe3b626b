"""The console's manual "on site" when GPS puts the crew elsewhere (AppTest): the dispatcher is told
how far away and since when, must give a reason, and the reason is kept with the arrival."""

from __future__ import annotations

from datetime import timedelta

from dashboard.crew_gps import REASON_KEY
from emergency.app.bus import execute
from emergency.app.commands.dispatch import DispatchCrew, RecordCrewPositions
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Crew, CrewAssignment
from emergency.dispatch.positions import site_of
from tests.pages.test_console import button, console, make_outage
from tests.support.app_context import SHANGHAI, context_of

TRACKER = Actor("token:vehicle-trackers", "crew_position")
M_PER_DEG_LAT = 111_195.0


def test_a_manual_on_site_against_gps_asks_why_and_keeps_the_reason(territory_db):
    url, territory = territory_db
    db = get_database(url)
    outage_id = make_outage(url, territory)
    crew_id = territory.crew_ids["C1"]
    with db.read() as session:
        version = session.get(Crew, crew_id).version  # type: ignore[union-attr]
        site = site_of(session, outage_id)
    dispatcher = context_of(db, SYSTEM_CLOCK, Actor("bob", "dispatcher"))
    job = execute(dispatcher, DispatchCrew(outage_id, crew_id, version))
    taken = SYSTEM_CLOCK.now() - timedelta(minutes=1)
    fix = {"crew": "C1", "lon": site[0], "lat": site[1] + 2300 / M_PER_DEG_LAT, "at": taken.isoformat()}
    assert execute(context_of(db, SYSTEM_CLOCK, TRACKER), RecordCrewPositions((fix,))).refused == ()

    at = console(url, outage_id)
    button(at, "On site").click().run()
    button(at, "Yes, do it").click().run()
    asked = f"GPS puts crew C1 2.3 km away ({taken.astimezone(SHANGHAI):%H:%M}): give a reason"
    assert any(asked in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.text_input(key=REASON_KEY).label.startswith("Why is the crew on site")
    button(at, "Yes, do it").click().run()
    assert any("Give a reason first" in e.value for e in at.error)
    at.text_input(key=REASON_KEY).input("crew phoned from site; tracker left at the depot").run()
    button(at, "Yes, do it").click().run()
    assert not at.exception, at.exception
    assert any(f"Crew C1 is on site at outage {outage_id}" in s.value for s in at.success)
    with db.read() as session:
        kept = session.get(CrewAssignment, job.id)
        assert kept is not None and kept.status == "on_site" and kept.on_site_source == "dispatcher"
        assert kept.on_site_reason == "crew phoned from site; tracker left at the depot"
