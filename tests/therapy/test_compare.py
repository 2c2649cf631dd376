"""DRG versus SCS on the default patient: the published trends, the claims and the report."""

from __future__ import annotations

import pytest

from drgsim.anatomy.posture import Posture
from drgsim.therapy.report import write_report


def test_scs_thresholds_rise_prone_and_drg_thresholds_stay(comparison):
    """He, Barolat & Holsheimer 1994 / Holsheimer 1994: the dCSF grows prone and SCS thresholds rise; DRG
    thresholds nearly unchanged across postures (Kramer 2015)."""
    scs = comparison.scs.outcome.perception_threshold_ma
    assert scs["prone"] > 1.2 * scs["supine"]
    assert comparison.drg.outcome.posture_spread_pct < 10.0
    assert comparison.drg.outcome.posture_spread_pct < comparison.scs.outcome.posture_spread_pct / 3


def test_scs_stimulates_more_off_target_area_for_focal_foot_pain(comparison):
    """ACCURATE (Deer 2017): less stimulation in non-painful areas with DRG."""
    d, s = comparison.drg.summary(), comparison.scs.summary()
    assert s["off_target_pct"] > d["off_target_pct"]
    assert s["paresthesia_area_ratio"] > d["paresthesia_area_ratio"]


def test_drg_uses_less_energy(comparison):
    d, s = comparison.drg.summary(), comparison.scs.summary()
    assert d["average_current_ua"] < s["average_current_ua"] / 3
    assert d["primary_cell_years"] > s["primary_cell_years"]
    assert s["recharge_interval_days"] is not None and d["recharge_interval_days"] is None  # SCS IPG recharges


def test_the_optimizer_scores_its_program_as_the_evaluation_does(comparison):
    """The coverage and off-target share the optimizer chose a program for are the evaluation's in the
    programming posture (its A-beta tables stop at the motor bound, the evaluation's at the device maximum)."""
    for system in (comparison.drg, comparison.scs):
        opt = system.optimization
        ref = system.outcome.posture(opt.config.posture)
        assert ref.pain_coverage_pct == pytest.approx(opt.pain_coverage_pct, abs=0.01)
        assert ref.off_target_pct == pytest.approx(opt.off_target_pct, abs=0.01)


def test_contract_numbers_and_claims(comparison):
    for system in (comparison.drg, comparison.scs):
        out = system.summary()
        assert set(out["perception_threshold_ma"]) == {p.value for p in Posture}
        for key in ("program", "pain_coverage_pct", "off_target_pct", "c_fibers_activated", "motor_activated",
                    "average_current_ua", "battery_years", "posture_spread_pct"):
            assert key in out
        assert not out["motor_activated"]
        pts = list(out["perception_threshold_ma"].values())
        spread = 100 * (max(pts) - min(pts)) / (sum(pts) / len(pts))
        assert out["posture_spread_pct"] == round(spread, 2)
    assert [c.claim for c in comparison.claims] == ["targeted coverage", "lower energy", "longer battery life",
                                                    "positional stability", "less paresthesia"]
    assert all(c.supported is not None for c in comparison.claims)


def test_report_has_figures_and_numbers(comparison, tmp_path):
    path = write_report(comparison, tmp_path)
    page = path.read_text()
    for name in ("pain_map", "paresthesia_drg", "paresthesia_scs", "recruitment", "posture", "energy"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"src='{name}.png'" in page
    assert f"{comparison.drg.summary()['average_current_ua']:g}" in page
    assert "positional stability" in page


def test_headline_numbers_carry_their_sampling_intervals(comparison):
    """Bootstrap intervals over the sampling of the cells: in compare's summary, around the number itself."""
    for system in ("drg", "scs"):
        s = comparison.summary()[system]
        ci = s["intervals"]
        assert ci["n_resamples"] == 1000 and ci["posture"] == "supine"
        for key in ("pain_coverage_pct", "off_target_pct"):
            lo, hi = ci[key]
            assert 0 <= lo <= hi <= 100
        lo, hi = ci["perception_threshold_ma"]
        assert lo - 1e-4 <= s["perception_threshold_ma"]["supine"] <= hi + 1e-4  # intervals rounded to 1e-4


def test_population_scale_multiplies_every_population():
    from drgsim.therapy.model import QUALITY

    q = QUALITY["quick"].scaled(2.0)
    assert q.drg_population.n_neurons == 2 * QUALITY["quick"].drg_population.n_neurons
    assert q.scs_population.n_dorsal_root == 2 * QUALITY["quick"].scs_population.n_dorsal_root
    with pytest.raises(ValueError, match="population_scale=20"):
        QUALITY["quick"].scaled(20)
