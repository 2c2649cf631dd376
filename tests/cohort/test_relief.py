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
