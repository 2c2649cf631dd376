"""The cohort's draws against their sources: DRG volumes per level (Weiner 2022 as issue 14 quotes them),
the pain-map mix and laterality of cohort.json, 1:1 permuted-block randomization, the lead error scale."""

import numpy as np
import pytest

from drgsim.anatomy._data import load_json
from drgsim.anatomy.levels import Side
from drgsim.cohort.population import ARMS, CohortConfig, TrialPopulation, draw_cohort

N = 400


@pytest.fixture(scope="module")
def cohort():
    return draw_cohort(CohortConfig(n=N, seed=11, quality="quick"))


@pytest.mark.parametrize("level, mean, sd", [("L4", 211, 53), ("L5", 291, 91), ("S1", 384, 145)])
def test_drg_volumes_follow_the_published_spread(cohort, level, mean, sd):
    vols = np.array([cp.patient.drg_geometry(level, s).ganglion_volume_mm3 for cp in cohort for s in Side])
    se_mean = sd / np.sqrt(len(vols))
    assert abs(vols.mean() - mean) < 4 * se_mean
    assert abs(vols.std() - sd) < 0.2 * sd  # lognormal SD estimate from 800 draws: within 20%


def test_pain_groups_follow_their_shares(cohort):
    pop = TrialPopulation.default()
    p = {g: x.probability for g, x in pop.pain_groups.items()}
    none = np.prod([1 - v for v in p.values()])  # nobody is pain-free: then one group by its share
    for g, pg in p.items():
        expect = pg + none * pg / sum(p.values())
        seen = np.mean([g in cp.pain_groups for cp in cohort])
        assert abs(seen - expect) < 4 * np.sqrt(expect * (1 - expect) / N), g
    for cp in cohort:  # each region of the map belongs to a drawn group, on a drawn side
        allowed = {f"{s}_{r}" for g in cp.pain_groups for r in pop.pain_groups[g].regions for s in ("left", "right")}
        assert set(cp.patient.pain_map.nrs) <= allowed
        assert all(pop.nrs["low"] <= v <= pop.nrs["high"] for v in cp.patient.pain_map.nrs.values())


def test_laterality_and_diagnosis_shares(cohort):
    pop = TrialPopulation.default()
    bilateral = np.mean([len({k.split("_")[0] for k in cp.patient.pain_map.nrs}) == 2 for cp in cohort])
    f = pop.bilateral_fraction
    assert abs(bilateral - f) < 4 * np.sqrt(f * (1 - f) / N)
    crps_i = np.mean([cp.patient.history.diagnosis.value == "crps_i" for cp in cohort])
    assert abs(crps_i - pop.diagnosis["crps_i"]) < 4 * np.sqrt(0.25 * 0.75 / N)


def test_randomization_is_one_to_one_in_blocks(cohort):
    block = TrialPopulation.default().randomization["block"]
    arms = [cp.randomized_arm for cp in cohort]
    for k in range(0, N, block):
        assert sorted(arms[k:k + block]) == sorted(ARMS * (block // 2))


def test_a_larger_cohort_extends_a_smaller_one(cohort):
    small = draw_cohort(CohortConfig(n=5, seed=11, quality="quick"))
    assert [cp.model_dump() for cp in small] == [cp.model_dump() for cp in cohort[:5]]
    other = draw_cohort(CohortConfig(n=5, seed=12, quality="quick"))
    assert other[0].patient.content_hash() != small[0].patient.content_hash()


def test_lead_error_scale_scales_the_placement_spread():
    sd = load_json("spine.json")["variability"]["values"]["drg_lead_error_sd_mm"]
    for scale in (0.0, 2.0):
        c = draw_cohort(CohortConfig(n=60, seed=5, quality="quick",
                                     population=TrialPopulation.default(lead_error_scale=scale)))
        errs = np.array([g.drg_lead_error_mm for cp in c for g in cp.patient.ganglia]).ravel()
        assert abs(errs.std() - scale * sd) <= 0.1 * scale * sd + 1e-12


def test_trial_leads_are_placed_apart_from_the_permanent_ones(cohort):
    sd = load_json("spine.json")["variability"]["values"]["drg_lead_error_sd_mm"]
    trial = np.array([g.drg_lead_error_mm for cp in cohort for g in cp.trial.ganglia]).ravel()
    permanent = np.array([g.drg_lead_error_mm for cp in cohort for g in cp.patient.ganglia]).ravel()
    assert abs(trial.std() - sd) < 0.05 * sd  # the same spread (16,000 draws)
    assert abs(np.corrcoef(trial, permanent)[0, 1]) < 0.05  # drawn independently
    for cp in cohort[:20]:  # the same person otherwise
        same = cp.trial.model_dump(exclude={"ganglia", "scs_lead_lateral_error_mm"})
        assert same == cp.patient.model_dump(exclude={"ganglia", "scs_lead_lateral_error_mm"})
        assert [g.geometry for g in cp.trial.ganglia] == [g.geometry for g in cp.patient.ganglia]
        assert cp.trial.scs_lead_lateral_error_mm != cp.patient.scs_lead_lateral_error_mm
