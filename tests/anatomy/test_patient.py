"""Virtual patients: the default patient, JSON round-trip and hash, and the generator's statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from drgsim.anatomy.candidate import Diagnosis, assess_candidate
from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.patient import (
    Patient,
    Variability,
    default_patient,
    generate_patient,
    generate_patients,
    patient_seeds,
    with_lead_errors,
)
from drgsim.anatomy.planning import plan_targets
from drgsim.anatomy.posture import Posture
from drgsim.anatomy.spine import CANAL_LEVELS, canal_level_data, drg_geometry, drg_level_data

N = 2000


@pytest.fixture(scope="module")
def cohort() -> list[Patient]:
    return generate_patients(N, seed=2024)


def test_default_patient_is_crps_of_the_left_foot():
    p = default_patient()
    assert p.history.diagnosis == Diagnosis.CRPS_I
    assert set(p.pain_map.nrs) == {"left_sole", "left_heel", "left_foot_dorsum"}
    assert assess_candidate(p.history, p.pain_map).eligible
    plan = plan_targets(p.pain_map)
    assert [(t.level, t.side) for t in plan.targets[:2]] == [("S1", "left"), ("L5", "left")]
    assert p.drg_geometry("L5", "left") == drg_geometry("L5")
    assert p.canal_geometry("T11") == p.canal_geometry(Level.T11, Posture.SUPINE)


def test_json_round_trip_and_hash():
    p = generate_patient(11)
    text = p.model_dump_json()
    q = Patient.model_validate_json(text)
    assert q == p and q.content_hash() == p.content_hash()
    shuffled = json.loads(text, object_pairs_hook=lambda pairs: dict(reversed(pairs)))  # key order is irrelevant
    assert Patient.model_validate(shuffled).content_hash() == p.content_hash()
    assert default_patient().content_hash() == default_patient().content_hash()


def test_hash_changes_with_any_content():
    p = generate_patient(11)
    moved = p.model_copy(update={"cord_offset_mm": p.cord_offset_mm + 0.01})
    assert moved.content_hash() != p.content_hash()
    assert generate_patient(12).content_hash() != p.content_hash()


def test_anatomy_hash_ignores_identity_pain_and_placement_only():
    p = generate_patient(11)
    again = with_lead_errors(p, seed=5)
    assert again.content_hash() != p.content_hash() and again.anatomy_hash() == p.anatomy_hash()
    assert p.model_copy(update={"id": "other"}).anatomy_hash() == p.anatomy_hash()
    moved = p.model_copy(update={"cord_offset_mm": p.cord_offset_mm + 0.01})
    assert moved.anatomy_hash() != p.anatomy_hash()
    ganglia = [p.ganglia[0].model_copy(update={"geometry": p.ganglia[0].geometry.model_copy(
        update={"ganglion_length_mm": p.ganglia[0].geometry.ganglion_length_mm + 0.1})})] + p.ganglia[1:]
    assert p.model_copy(update={"ganglia": ganglia}).anatomy_hash() != p.anatomy_hash()


def test_a_zero_spread_placement_is_the_same_patient():
    """Zero spreads give errors of -0.0 where the draw is negative: the same numbers, so the same hash."""
    p = default_patient()
    still = Variability.default().model_copy(update={"drg_lead_error_sd_mm": 0.0, "scs_lead_lateral_error_sd_mm": 0.0})
    again = with_lead_errors(p, seed=3, variability=still)
    assert any(str(e) == "-0.0" for g in again.ganglia for e in g.drg_lead_error_mm)
    assert again.content_hash() == p.content_hash()


def test_seed_reproduces_a_patient_and_cohorts_are_seeded(cohort):
    p = cohort[17]
    assert generate_patient(p.seed, id=p.id) == p
    again = generate_patients(5, seed=2024)
    assert again == cohort[:5]
    assert generate_patients(5, seed=2025) != again
    assert len(set(patient_seeds(N, 2024))) == N


def test_patients_are_complete_and_fit_every_posture(cohort):
    for p in cohort[:50]:
        for level in CANAL_LEVELS:
            for posture in Posture:
                g = p.canal_geometry(level, posture)
                assert g.vcsf_mm > 0 and g.lateral_csf_mm > 0
    with pytest.raises(ValueError, match="each level T10-S2 once"):
        Patient.model_validate({**cohort[0].model_dump(), "ganglia": cohort[0].model_dump()["ganglia"][1:]})


def within(values, mean, sd, rel_sd=0.1):
    """The sample mean within 4 standard errors of ``mean`` and the sample SD within ``rel_sd`` of ``sd``."""
    values = np.asarray(values)
    assert abs(values.mean() - mean) < 4 * sd / np.sqrt(values.size)
    assert values.std(ddof=1) == pytest.approx(sd, rel=rel_sd)


@pytest.mark.parametrize("level", list(Level))
def test_drg_volume_reproduces_the_level_mean_and_sd(cohort, level):
    data = drg_level_data(level)
    volumes = [p.drg_geometry(level, s).ganglion_volume_mm3 for p in cohort for s in Side]
    within(volumes, data.volume_mm3, data.volume_sd_mm3)


def test_drg_shape_is_kept_and_depth_varies(cohort):
    mean = drg_geometry("L5")
    ratios = [p.drg_geometry("L5", "left").ganglion_width_mm / p.drg_geometry("L5", "left").ganglion_length_mm
              for p in cohort]
    assert np.allclose(ratios, mean.ganglion_width_mm / mean.ganglion_length_mm)
    var = Variability.default()
    within([p.drg_geometry("L5", s).ganglion_offset_mm for p in cohort for s in Side], mean.ganglion_offset_mm,
           var.ganglion_offset_sd_mm)


@pytest.mark.parametrize("level", CANAL_LEVELS)
def test_dcsf_reproduces_the_level_mean_and_sd(cohort, level):
    data = canal_level_data(level)
    within([p.dcsf_mm[level] for p in cohort], data.dcsf_mm, data.dcsf_sd_mm)


def test_dcsf_spread_matches_holsheimer(cohort):
    """T11 supine 2.0-6.0 mm, T12 1.5-4.5 mm (read as +-2 SD); more than two-fold between subjects."""
    t11 = np.array([p.dcsf_mm[Level.T11] for p in cohort])
    t12 = np.array([p.dcsf_mm[Level.T12] for p in cohort])
    assert np.mean((t11 >= 2.0) & (t11 <= 6.0)) > 0.9 and np.mean((t12 >= 1.5) & (t12 <= 4.5)) > 0.9
    assert np.percentile(t11, 95) / np.percentile(t11, 5) > 2
    assert np.corrcoef(t11, t12)[0, 1] > 0.99  # one draw per patient, shared by the levels


def test_cord_lies_off_midline_in_about_40_percent(cohort):
    var = Variability.default()
    offsets = np.array([p.cord_offset_mm for p in cohort])
    lo, hi = var.cord_off_midline_range_mm
    off = np.mean((np.abs(offsets) >= lo) & (np.abs(offsets) <= hi))
    assert abs(off - var.cord_off_midline_fraction) < 4 * np.sqrt(0.4 * 0.6 / N)
    assert np.abs(offsets).max() <= hi
    assert abs(np.mean(offsets > 0) - 0.5) < 4 * np.sqrt(0.25 / N)


def test_lead_errors_reproduce_their_sd(cohort):
    var = Variability.default()
    drg = np.array([p.ganglion("L5", "left").drg_lead_error_mm for p in cohort])
    for axis in range(3):
        within(drg[:, axis], 0.0, var.drg_lead_error_sd_mm)
    within([p.scs_lead_lateral_error_mm for p in cohort], 0.0, var.scs_lead_lateral_error_sd_mm)


def test_variability_is_a_parameter():
    calm = Variability.default().model_copy(update={"ganglion_offset_sd_mm": 0.0, "drg_lead_error_sd_mm": 0.0})
    p = generate_patient(3, variability=calm)
    assert p.drg_geometry("L4", "right").ganglion_offset_mm == drg_geometry("L4").ganglion_offset_mm
    assert p.ganglion("L4", "right").drg_lead_error_mm == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="cord_off_midline_range_mm"):
        Variability.model_validate({**Variability.default().model_dump(), "cord_off_midline_range_mm": (2.0, 1.0)})
