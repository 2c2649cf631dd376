"""The relief model's fit and the report's hold-out arithmetic, by hand."""

import numpy as np
import pytest
from scipy import integrate, stats

from drgsim.cohort.relief import ReliefModel, bootstrap_pct, calibration_targets, fit


def test_calibration_targets_are_accurate_at_3_months():
    assert calibration_targets() == {"drg": 81.2, "scs": 55.7}  # Deer 2017, Pain 158:669


def test_fit_by_hand_for_uniform_arms():
    # Every DRG patient covered 90%, every SCS patient 60%: Phi((0.9 rho - 0.5)/s) = 0.812 and
    # Phi((0.6 rho - 0.5)/s) = 0.557, two linear equations in rho and s.
    z1, z2 = stats.norm.ppf(0.812), stats.norm.ppf(0.557)
    # 0.9 rho - 0.5 = z1 s and 0.6 rho - 0.5 = z2 s  ->  0.3 rho = (z1 - z2) s
    s = 0.5 / (0.6 * (z1 - z2) / 0.3 - z2)
    rho = (z1 - z2) * s / 0.3
    f = fit({"drg": np.full(10, 0.9), "scs": np.full(7, 0.6)})
    assert f.exact
    assert f.model.relief_at_full_coverage == pytest.approx(rho, rel=1e-6)
    assert f.model.unexplained_sd == pytest.approx(s, rel=1e-6)
    assert f.fitted_pct == pytest.approx({"drg": 81.2, "scs": 55.7}, abs=1e-6)


def test_an_unreachable_target_is_reported_not_forced():
    f = fit({"drg": np.full(5, 0.5), "scs": np.full(5, 0.5)})  # equal coverage cannot give unequal rates
    assert not f.exact
    assert f.fitted_pct["drg"] == pytest.approx(f.fitted_pct["scs"])


def test_fit_needs_both_arms():
    with pytest.raises(ValueError, match="both arms"):
        fit({"drg": np.full(3, 0.9)})


def test_expected_relief_against_numerical_integration():
    m = ReliefModel(relief_at_full_coverage=0.8, unexplained_sd=0.3)
    for c in (0.1, 0.5, 1.0, 1.4):
        mu = 0.8 * c
        quad, _ = integrate.quad(lambda u: min(max(mu + 0.3 * u, 0.0), 1.0) * stats.norm.pdf(u), -12, 12,
                                 points=[-mu / 0.3, (1 - mu) / 0.3])
        assert m.expected_relief(np.array([c]))[0] == pytest.approx(quad, abs=1e-9)
    assert m.responder_probability(np.array([0.5]))[0] == pytest.approx(stats.norm.cdf((0.4 - 0.5) / 0.3))


def test_bootstrap_interval_of_a_rate():
    p = np.r_[np.ones(60), np.zeros(40)]
    lo, hi = bootstrap_pct(p, seed=1)
    half = 1.96 * np.sqrt(0.6 * 0.4 / 100) * 100  # the normal approximation, 9.6 pp
    assert lo < 60 < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)


def _hand_made_cohort(folder, coverage, groups):
    from drgsim.cohort.population import CohortConfig
    from drgsim.cohort.run import _write_manifest, result_path, write_row

    for arm, pairs in coverage.items():
        for i, (trial, month3) in enumerate(pairs):
            write_row(result_path(folder, i, arm), {
                "index": i, "arm": arm, "randomized_arm": "drg" if i != 1 else "scs", "pain_groups": groups[i],
                "trial_pain_coverage_pct": trial, "pain_coverage_pct": month3, "off_target_pct": 10.0 * i,
                "abeta_activated": 5, "posture_spread_pct": 1.0, "coverage_spread_pct": 2.0,
                "average_current_ua": 7.0, "battery_years": 5.0, "primary_cell_years": 5.0})
    _write_manifest(CohortConfig(n=len(groups), seed=0, quality="quick"), folder)


def test_report_arithmetic_by_hand(tmp_path):
    """A folder of three hand-made patients: the endpoint takes the lower of trial and 3-month coverage
    (the patient's unexplained relief shared by both phases), relief the 3-month one."""
    from drgsim.cohort.report import cohort_report

    coverage = {"drg": [(90, 80), (70, 95), (85, 85)], "scs": [(60, 40), (50, 65), (30, 70)]}  # trial, 3 months
    groups = ["foot", "knee,groin", "foot,leg"]
    _hand_made_cohort(tmp_path, coverage, groups)
    rep = cohort_report(tmp_path)
    m = ReliefModel.model_validate(rep["relief_model"])
    rho, s = m.relief_at_full_coverage, m.unexplained_sd
    phi = lambda c: stats.norm.cdf((rho * np.asarray(c) / 100 - 0.5) / s)  # noqa: E731
    for arm, pairs in coverage.items():
        trial, month3 = np.array(pairs).T
        assert rep[arm]["responder_pct"] == pytest.approx(100 * phi(np.minimum(trial, month3)).mean(), abs=0.01)
        assert rep[arm]["trial_success_pct"] == pytest.approx(100 * phi(trial).mean(), abs=0.01)
        assert rep[arm]["randomized"]["n"] == (2 if arm == "drg" else 1)
    assert rep["calibration"]["exact"]  # two arms, two parameters
    assert rep["drg"]["responder_pct"] == pytest.approx(81.2, abs=0.1)
    rows = {(c["study"], c["measure"], c["arm"]): c["simulated"] for c in rep["comparison"]}
    drg3 = np.array([p[1] for p in coverage["drg"]]) / 100
    assert rows["Levy 2019", "mean_relief_pct_12_months", "drg"] == pytest.approx(
        100 * m.expected_relief(drg3).mean(), abs=0.01)
    foot = [min(coverage["drg"][i]) for i in (0, 2)]  # patients 0 and 2 have foot pain
    assert rows["Liem 2013", "responder_pct_foot", "drg"] == pytest.approx(100 * phi(foot).mean(), abs=0.01)
    assert rows["Schu 2015", "trial_success_pct", "drg"] == rep["drg"]["trial_success_pct"]


def test_a_cohort_judged_by_another_cohorts_calibration(tmp_path):
    """``--calibrate-on``: the relief model of the calibration cohort, applied unchanged (not refitted)."""
    from drgsim.cohort.report import cohort_report

    _hand_made_cohort(tmp_path / "base", {"drg": [(90, 80), (70, 95)], "scs": [(60, 40), (50, 65)]}, ["foot"] * 2)
    _hand_made_cohort(tmp_path / "worse", {"drg": [(60, 50), (40, 65)], "scs": [(30, 20), (50, 35)]}, ["foot"] * 2)
    base = cohort_report(tmp_path / "base")
    judged = cohort_report(tmp_path / "worse", calibrate_on=tmp_path / "base")
    assert judged["relief_model"] == base["relief_model"]
    assert judged["calibration"]["cohort"] == str(tmp_path / "base")
    for arm in ("drg", "scs"):  # less coverage, fewer responders under the same model
        assert judged[arm]["responder_pct"] < base[arm]["responder_pct"]
    assert cohort_report(tmp_path / "worse")["drg"]["responder_pct"] == pytest.approx(81.2, abs=0.1)  # refitted
