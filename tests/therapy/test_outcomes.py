"""Outcomes: the region arithmetic by hand, and the trends published work supports."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgsim.anatomy.atlas import get_region
from drgsim.anatomy.painmap import PainMap
from drgsim.devices.program import LeadSettings, Program
from drgsim.therapy.outcomes import FULL_COVERAGE_FRACTION, RegionMap, _regions, evaluate, evaluate_posture


def test_region_map_by_hand():
    rm = RegionMap([("L5", "left"), ("S1", "left"), ("S1", "right")])
    shares = np.array([0.25, 1.0, 0.0])
    cov = dict(zip(rm.ids, rm.coverage(shares)))
    heel = get_region("left_heel")
    want = min(1.0, (heel.weight("L5") * 0.25 + heel.weight("S1") * 1.0) / FULL_COVERAGE_FRACTION)
    assert cov["left_heel"] == pytest.approx(want)
    assert cov["right_heel"] == 0.0  # other side
    assert cov["left_groin"] == 0.0  # no L1 group
    pain = PainMap(nrs={"left_heel": 8, "left_foot_dorsum": 4})
    covered = rm.coverage(shares)
    pct, off = rm.scores(covered, pain)
    area = dict(zip(rm.ids, rm.area))
    w = {"left_heel": 8 * area["left_heel"], "left_foot_dorsum": 4 * area["left_foot_dorsum"]}
    assert pct == pytest.approx(100 * (w["left_heel"] * cov["left_heel"] + w["left_foot_dorsum"] *
                                       cov["left_foot_dorsum"]) / sum(w.values()))
    outside = sum(area[r] * c for r, c in cov.items() if r not in pain.nrs)
    assert off == pytest.approx(100 * outside / sum(area[r] * c for r, c in cov.items()))
    assert rm.scores(rm.coverage(np.zeros(3)), pain)[1] == 0.0  # nothing stimulated, nothing off target


def _program(amplitudes, pw=300.0, configs=("-+00", "-+00")):
    return Program(name="t", leads={k: LeadSettings(contacts=c, amplitude_ma=a, pulse_width_us=pw, frequency_hz=20.0,
                                                    enabled=a > 0)
                                    for k, (a, c) in enumerate(zip(amplitudes, configs), start=1)})


def test_nothing_fires_without_current(drg_model):
    out = evaluate_posture(drg_model, _program([0.0, 0.0]), "supine")
    assert out.pain_coverage_pct == 0 and out.abeta_activated == 0 and out.paresthesia == {}
    assert out.average_current_ua == 0 and out.battery_years > 0  # quiescent drain only
    assert out.leads == []


def test_coverage_and_recruitment_grow_with_amplitude(drg_model):
    prev = None
    for a in (0.2, 0.4, 0.6, 0.8, 1.0):
        out = evaluate_posture(drg_model, _program([a, a]), "supine")
        if prev is not None:
            assert out.pain_coverage_pct >= prev.pain_coverage_pct
            assert out.abeta_activated >= prev.abeta_activated
            assert out.average_current_ua > prev.average_current_ua
        prev = out
    assert prev.pain_coverage_pct > 0


@pytest.mark.parametrize("lead,level", [(2, "L5"), (1, "S1")])
def test_a_lead_maps_to_its_own_dermatome(drg_model, lead, level):
    """Activations from an L5 DRG lead map mainly to the L5 dermatome (and S1 to S1): of the paresthesia
    area, the regions whose primary dermatome is the lead's level hold the most, and every covered region
    belongs partly to that dermatome."""
    amps = [0.0, 0.0]
    amps[lead - 1] = 1.0
    out = evaluate_posture(drg_model, _program(amps), "supine")
    assert out.abeta_activated > 0
    ids, area, _ = _regions()
    a = dict(zip(ids, area))
    by_dermatome = {}
    for r, c in out.paresthesia.items():
        d = get_region(r).primary_dermatome
        by_dermatome[d] = by_dermatome.get(d, 0.0) + c * a[r]
    assert max(by_dermatome, key=by_dermatome.get) == level
    assert all(get_region(r).weight(level) > 0 for r in out.paresthesia)


def test_c_fibres_are_not_directly_activated_by_drg_stimulation(drg_model):
    """Graham et al. 2019: at clinical DRG amplitudes (up to ~1.5 mA here, twice a typical program), no C cell."""
    out = evaluate(drg_model, _program([1.5, 1.5]), postures=("supine", "prone"))
    for p in out.postures:
        assert p.abeta_activated > 0
        assert p.c_fibers_activated == 0


def test_bad_programs_are_refused(drg_model):
    with pytest.raises(ValueError, match="program.leads has lead 3; this implant has leads 1-2"):
        evaluate_posture(drg_model, Program(name="x", leads={3: LeadSettings(contacts="-+00", pulse_width_us=300,
                                                                              frequency_hz=20)}), "supine")
    with pytest.raises(ValueError, match=r"program.leads.1.contacts has 8 entries; allowed: 4"):
        evaluate_posture(drg_model, _program([0.5], configs=("-+000000",)), "supine")


GROUPS = [("L4", "left"), ("L5", "left"), ("S1", "left"), ("S1", "right"), ("T10", "left")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=len(GROUPS), max_size=len(GROUPS)),
       st.lists(st.floats(0, 1), min_size=len(GROUPS), max_size=len(GROUPS)))
def test_more_activation_never_covers_less(a, b):
    rm = RegionMap(GROUPS)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    c_lo, c_hi = rm.coverage(lo), rm.coverage(hi)
    assert np.all((0 <= c_lo) & (c_lo <= c_hi + 1e-12) & (c_hi <= 1))
    pain = PainMap(nrs={"left_sole": 8, "left_heel": 7})
    (p_lo, off_lo), (p_hi, off_hi) = rm.scores(c_lo, pain), rm.scores(c_hi, pain)
    assert 0 <= p_lo <= p_hi + 1e-9 <= 100 + 1e-9
    assert 0 <= off_lo <= 100 and 0 <= off_hi <= 100
