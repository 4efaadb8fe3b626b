"""Evidence-weighted fault location on hand-made regions: which faults explain the reports best."""

from __future__ import annotations

from emergency.network.fault_location import Evidence, LocationParams, Region, explain, fault_score

PARAMS = LocationParams(
    p_call=0.2,
    p_gasp=0.3,
    concentration=2.0,
    false_report_rate=1e-4,
    fault_rates={"fuse": 0.2, "transformer": 0.05, "service": 0.01},
    window_minutes=30,
)
FUSE = 1
TRANSFORMERS = list(range(10, 20))  # ten transformers of 40 customers under one fuse


def region(reporters: dict[int, int], **extra: Evidence) -> Region:
    parent: dict[int, int | None] = {FUSE: None, **dict.fromkeys(TRANSFORMERS, FUSE)}
    evidence = {t: Evidence(reporters=n, own_faults=n) for t, n in reporters.items()}
    for key, found in extra.items():
        evidence[int(key.removeprefix("t"))] = found
    return Region(
        parent=parent,
        kind={FUSE: "fuse", **dict.fromkeys(TRANSFORMERS, "transformer")},
        customers={FUSE: 400, **dict.fromkeys(TRANSFORMERS, 40)},
        predictable={FUSE, *TRANSFORMERS},
        evidence=evidence,
    )


def test_reports_spread_under_a_fuse_locate_the_fuse():
    found = explain(region(dict.fromkeys(TRANSFORMERS[:8], 4)), PARAMS)
    assert [f.node for f in found] == [FUSE]
    assert 0.9 < found[0].confidence <= 1.0


def test_two_transformers_calling_hard_are_two_faults_not_their_fuse():
    found = explain(region({10: 14, 11: 12}), PARAMS)
    assert sorted(f.node for f in found) == [10, 11]


def test_two_calls_on_a_transformer_beat_two_service_faults_but_one_call_does_not():
    assert [f.node for f in explain(region({10: 2}), PARAMS)] == [10]
    assert explain(region({10: 1}), PARAMS) == []  # one caller: their own service outage


def test_silence_counts_a_fault_higher_up_must_explain_why_so_few_reported():
    few_of_many = fault_score(PARAMS, "fuse", 400, 6)
    few_of_few = fault_score(PARAMS, "fuse", 60, 6)
    assert few_of_many < few_of_few


def test_meters_answering_under_the_fuse_turn_its_prediction_into_the_three_transformers():
    reports = {10: 4, 11: 4, 12: 4}
    assert [f.node for f in explain(region(reports), PARAMS)] == [FUSE]
    pinged = {f"t{t}": Evidence(answered=1) for t in (15, 16, 17, 18, 19)}
    assert sorted(f.node for f in explain(region(reports, **pinged), PARAMS)) == [10, 11, 12]


def test_with_few_reports_the_prediction_waits_low_until_the_fault_above_is_likely_enough():
    # A fuse a little more likely than the two transformers below it: not enough to move up.
    reports = {10: 4, 11: 4}
    assert sorted(f.node for f in explain(region(reports), PARAMS)) == [10, 11]
    eager = LocationParams(**{**PARAMS.__dict__, "confidence_to_move_up": 0.5})
    assert [f.node for f in explain(region(reports), eager)] == [FUSE]


def test_an_outage_standing_may_be_taken_over_from_above_but_never_split():
    fixed = region({10: 1, 11: 1}, t10=Evidence(reporters=1, fixed=True))
    found = {f.node for f in explain(fixed, PARAMS)}
    assert 10 in found or FUSE in found


def test_confidence_grows_with_the_evidence():
    weak = explain(region({10: 2}), PARAMS)[0].confidence
    strong = explain(region({10: 12}), PARAMS)[0].confidence
    assert 0 < weak < strong <= 1


def test_a_kind_that_never_faults_is_never_predicted():
    params = LocationParams(0.2, 0.3, 2.0, 1e-4, {"service": 0.01, "fuse": 0.0, "transformer": 0.05}, 30)
    found = explain(region(dict.fromkeys(TRANSFORMERS[:8], 4)), params)
    assert found and FUSE not in {f.node for f in found}


def test_a_device_whose_every_customer_reported_is_predicted_on_the_better_explanation_alone():
    # One customer on the transformer, who called: the transformer's fault is 5 times as likely as
    # the customer's own (its prior), short of the 0.99 needed to move up, but it puts no one out
    # who did not report, so the better explanation stands.
    lone = Region(
        parent={50: None},
        kind={50: "transformer"},
        customers={50: 1},
        predictable={50},
        evidence={50: Evidence(reporters=1, own_faults=1)},
    )
    assert [f.node for f in explain(lone, PARAMS)] == [50]
