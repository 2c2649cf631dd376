"""Planning (pain map -> ranked DRG targets) and the candidate check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drgsim.anatomy.atlas import get_region, region_ids
from drgsim.anatomy.candidate import ClinicalHistory, Contraindication, Diagnosis, PsychExclusion, assess_candidate
from drgsim.anatomy.painmap import PainMapError, pain_map, parse_pain
from drgsim.anatomy.patient import default_history
from drgsim.anatomy.planning import plan_targets


def ranked(text):
    return [(t.level, t.side) for t in plan_targets(parse_pain(text)).targets]


def test_sole_and_heel_rank_left_s1_then_l5():
    plan = plan_targets(parse_pain("left_sole:8,left_heel:7"))
    assert [(t.level, t.side) for t in plan.targets[:2]] == [("S1", "left"), ("L5", "left")]
    assert plan.targets[0].regions == ["left_heel", "left_sole"]  # heel carries more S1 (0.8 x 7 > 0.6 x 8)
    assert [(r.level, r.side) for r in plan.recommended] == [("S1", "left"), ("L5", "left")]
    assert plan.coverage >= plan.coverage_goal
    assert "left_sole" in plan.targets[0].reasons[0] and "S1 weight" in plan.targets[0].reasons[0]


@pytest.mark.parametrize("text,first", [("left_groin:6", ("L1", "left")), ("right_knee_anterior:7", ("L3", "right")),
                                        ("left_foot_dorsum:5", ("L5", "left")),
                                        ("right_ankle_medial:4", ("L4", "right")),
                                        ("left_perineum:5", ("S2", "left"))])
def test_first_target_is_the_reference_level(text, first):
    assert ranked(text)[0] == first


def test_groin_targets_stay_within_the_schu_levels_with_a_reason():
    plan = plan_targets(parse_pain("left_groin:6"))
    assert {t.level for t in plan.targets} <= {"T12", "L1", "L2", "L3", "L4"}
    assert any("Schu 2015" in r for r in plan.targets[0].reasons)


def test_knee_reason_cites_the_series():
    plan = plan_targets(parse_pain("left_knee_anterior:7"))
    assert any("Martin" in r for r in plan.targets[0].reasons)


def test_perineum_reports_the_unreachable_sacral_dermatomes():
    plan = plan_targets(parse_pain("left_perineum:5,right_perineum:5"))
    assert set(plan.uncovered) == {"S3", "S4"}
    assert {(r.level, r.side) for r in plan.recommended} == {("S2", "left"), ("S2", "right")}
    assert any("outside the modelled DRG levels" in r for r in plan.reasons)
    assert any("both sides" in r for r in plan.reasons)


def test_lead_budget_caps_the_recommendation():
    plan = plan_targets(parse_pain("left_lower_back:6,right_lower_back:6"), max_leads=2)
    assert len(plan.recommended) == 2 and plan.coverage < plan.coverage_goal
    assert any("not reached" in r for r in plan.reasons)
    with pytest.raises(ValueError, match="max_leads=5"):
        plan_targets(parse_pain("left_sole:3"), max_leads=5)


def test_all_zero_pain_cannot_be_planned():
    with pytest.raises(PainMapError, match="NRS 0"):
        plan_targets(parse_pain("left_sole:0"))


@given(st.dictionaries(st.sampled_from(region_ids()), st.integers(1, 10), min_size=1, max_size=6))
def test_scores_partition_the_pain(nrs):
    """Scores of all targets plus the unreachable share add to 1; ranks are ordered; sides agree."""
    plan = plan_targets(pain_map(nrs))
    assert sum(t.score for t in plan.targets) + sum(plan.uncovered.values()) == pytest.approx(1.0, abs=1e-4)
    scores = [t.score for t in plan.targets]
    assert scores == sorted(scores, reverse=True)
    for t in plan.targets:
        assert all(get_region(r).side == t.side and get_region(r).weight(t.level) > 0 for r in t.regions)
    assert 1 <= len(plan.recommended) <= plan.max_leads
    assert plan.coverage == pytest.approx(sum(t.score for t in plan.targets[:len(plan.recommended)]), abs=1e-4)


FOOT = parse_pain("left_sole:8,left_heel:7,left_foot_dorsum:6")


def test_default_history_is_eligible():
    result = assess_candidate(default_history(), FOOT)
    assert result.eligible and result.reasons == []
    assert "approved indication" in result.notes[0]


@pytest.mark.parametrize("change,criterion,fragment", [
    ({"pain_duration_months": 4}, "duration", "needs >= 6"),
    ({"failed_drug_classes": 1}, "failed conservative care", "1 drug class"),
    ({"failed_injections": False, "failed_therapy": False}, "failed conservative care", "none documented"),
    ({"neuropathic": False}, "neuropathic pain", "not documented"),
    ({"psych_screened": False}, "psychological screening", "no psychological screening"),
    ({"bdi_ii": 29}, "psychological screening", "treat depression first"),
    ({"psych_exclusions": [PsychExclusion.SUBSTANCE_USE_DISORDER]}, "psychological screening",
     "substance_use_disorder"),
    ({"contraindications": [Contraindication.INFECTION]}, "contraindications", "infection"),
])
def test_each_unmet_criterion_makes_the_candidate_ineligible_with_its_reason(change, criterion, fragment):
    history = default_history().model_copy(update=change)
    result = assess_candidate(history, FOOT)
    assert not result.eligible
    assert [c.criterion for c in result.criteria if not c.met] == [criterion]
    assert fragment in result.reasons[0]


def test_bdi_at_the_threshold_passes():
    assert assess_candidate(default_history().model_copy(update={"bdi_ii": 28}), FOOT).eligible


def test_widespread_pain_is_not_focal():
    widespread = pain_map({f"{s}_{p}": 7 for s in ("left", "right")
                           for p in ("sole", "knee_anterior", "groin", "lower_back", "calf")})
    result = assess_candidate(default_history(), widespread)
    assert not result.eligible and result.reasons[0].startswith("focal pain")


def test_off_label_diagnosis_is_a_note_not_an_exclusion():
    result = assess_candidate(default_history().model_copy(update={"diagnosis": Diagnosis.POSTSURGICAL}), FOOT)
    assert result.eligible and "off-label" in result.notes[0]


def test_unknown_history_defaults_to_not_documented():
    result = assess_candidate(ClinicalHistory(), FOOT)
    assert not result.eligible
    assert {c.criterion for c in result.criteria if not c.met} == {
        "duration", "failed conservative care", "neuropathic pain", "psychological screening"}
