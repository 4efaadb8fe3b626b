"""The simulator's crews arrive by GPS: positions along the road, the geofence, no "on site" click."""

from __future__ import annotations

from sqlalchemy import func, select

from emergency.core.field_models import CrewPosition
from emergency.core.models import AuditEvent, CrewAssignment, Outage
from emergency.dispatch.geofence import distance_m
from emergency.dispatch.positions import site_of
from emergency.simulator.runner import Simulation
from emergency.simulator.scenarios import SCENARIOS
from tests.integration.test_simulator import demo


def test_simulated_crews_are_recorded_on_site_by_the_geofence_at_a_fix_near_the_outage(database, clock):
    db = demo(database, clock)
    sim = Simulation(db, SCENARIOS["feeder-trip"], seed=3, start=clock.now(), auto_dispatch=True)
    sim.run_fast()
    with db.read() as session:
        # The run's jobs (the demo territory comes with crews already at work, recorded before).
        arrived = session.scalars(
            select(CrewAssignment).where(
                CrewAssignment.on_site_at.is_not(None), CrewAssignment.assigned_at >= sim.origin
            )
        ).all()
        assert arrived, "the run's crews reached their outages"
        for job in arrived:
            assert job.on_site_source == "gps"
            site = site_of(session, job.outage_id)
            assert job.on_site_lon is not None and job.on_site_lat is not None
            assert distance_m(job.on_site_lon, job.on_site_lat, *site) <= 150
            # The arrival is the time of a fix the crew's device sent, from the simulator.
            fixes = session.scalar(
                select(func.count())
                .select_from(CrewPosition)
                .where(
                    CrewPosition.crew_id == job.crew_id,
                    CrewPosition.at == job.on_site_at,
                    CrewPosition.source == "simulator",
                )
            )
            assert fixes == 1
        by = set(
            session.scalars(
                select(AuditEvent.actor).where(
                    AuditEvent.action == "crew.on_site", AuditEvent.at >= sim.origin
                )
            )
        )
        assert by == {"gps"}, "no simulated dispatcher's click"
        first = dict(session.execute(select(Outage.id, Outage.on_site_source)).tuples().all())
    assert {first[job.outage_id] for job in arrived} == {"gps"}
    assert sum(1 for e in sim.events if e.kind == "on_site") == len(arrived)
