"""From a simulated outcome to the trial's endpoint: a two-parameter relief model.

A patient's pain relief (fraction of baseline VAS) is ``rho * C + u``: ``C`` is the simulated pain
coverage in the programming posture (the paresthesia-pain overlap a clinician maps when programming, as
ACCURATE measured it), ``rho`` the relief per unit coverage (relief is bounded at 1, so ``rho`` > 1 means
that coverage above ``1 / rho`` brings full relief on average) and ``u ~ N(0, sigma^2)`` everything the
twin cannot know about the patient (central sensitisation, expectation, psychology, medication,
adherence). A responder has relief >= 50%, so ``P(responder) = Phi((rho * C - 0.5) / sigma)``. The
trial's temporary leads and the permanent ones are placed apart (each with its own placement error) and
``u`` belongs to the patient, shared by both phases, so ACCURATE's composite endpoint (>= 50% relief at
the end of trial and at 3 months) is met when ``rho * min(C_trial, C_3months) + u >= 0.5``: the model
takes ``C`` as that minimum for responders and the 3-month coverage for relief. Coverage lost in other postures is
reported (the posture spread), not charged: patients re-adjust the amplitude with their controller, which
the fixed program of the simulation does not; averaging coverage over the four postures instead leaves
SCS patients too little coverage to reach ACCURATE's 55.7% (issue 14's note).

``rho`` and ``sigma`` are fitted to ACCURATE's two 3-month arm-level success rates (Deer et al. 2017,
Pain 158:669; ``data/trials.json``, rows used for calibration) and are then used, unchanged, to predict
the hold-out rows (12-month rates, mean relief, responders by pain region, paresthesia-free shares).

What the model cannot know: time (no habituation, tolerance or disease course: a 12-month prediction
is the 3-month one), the effect on relief of off-target paresthesia, energy and posture (reported, not
used), sub-perception (paresthesia-free) relief, since the twin programs paresthesia that covers the
pain, the relief of one region apart from the patient's, and anything that differs between a week's trial
and the implant beyond the leads' placement (expectation, the trial's external cable and dressing, the
decision to implant): one unexplained term serves both phases.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import optimize, stats

from drgsim.anatomy._data import load_json

RESPONDER_RELIEF = 0.5  # >= 50% VAS reduction (ACCURATE's endpoint; IMMPACT's "substantial")


class ReliefModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relief_at_full_coverage: float = Field(gt=0)  # rho
    unexplained_sd: float = Field(gt=0)  # sigma

    def responder_probability(self, coverage: np.ndarray) -> np.ndarray:
        """P(relief >= 50%) for coverage fractions (0-1)."""
        z = (self.relief_at_full_coverage * np.asarray(coverage, float) - RESPONDER_RELIEF) / self.unexplained_sd
        return stats.norm.cdf(z)

    def expected_relief(self, coverage: np.ndarray) -> np.ndarray:
        """E[relief] with relief bounded to 0-1 (no patient is relieved beyond all pain, nor worsened):
        the mean of a normal clipped at 0 and 1, in closed form."""
        mu, s = self.relief_at_full_coverage * np.asarray(coverage, float), self.unexplained_sd
        a, b = -mu / s, (1 - mu) / s
        return (mu * (stats.norm.cdf(b) - stats.norm.cdf(a)) + s * (stats.norm.pdf(a) - stats.norm.pdf(b))
                + stats.norm.sf(b))


class Fit(BaseModel):
    model: ReliefModel
    targets_pct: dict[str, float]  # arm -> published responder rate used
    fitted_pct: dict[str, float]  # arm -> the fitted model's rate on the cohort
    exact: bool  # both targets reproduced to 0.1 percentage point


def calibration_targets() -> dict[str, float]:
    """Arm -> published responder % of the calibration rows of trials.json."""
    return {r["arm"]: r["published"] for r in load_json("trials.json")["results"] if r["used_for"] == "calibration"}


def fit(coverage_by_arm: dict[str, np.ndarray], targets_pct: dict[str, float] | None = None) -> Fit:
    """``rho`` and ``sigma`` that make the mean responder probability of each arm's patients equal its
    published rate (least squares over the arms; exact when the coverages allow it), with ``rho`` up to 3
    and the unexplained spread at most the whole scale."""
    targets_pct = targets_pct or calibration_targets()
    arms = [a for a in targets_pct if len(coverage_by_arm.get(a, ())) > 0]
    if len(arms) < 2:
        raise ValueError(f"the relief model needs results of both arms ({', '.join(targets_pct)}); have: "
                         f"{', '.join(arms) or 'none'}")

    def residual(p):
        m = ReliefModel(relief_at_full_coverage=p[0], unexplained_sd=p[1])
        return [100 * m.responder_probability(coverage_by_arm[a]).mean() - targets_pct[a] for a in arms]

    best = None
    for start in ((0.9, 0.3), (0.6, 0.15), (1.5, 0.6)):  # a few starts: the problem is small but not convex
        r = optimize.least_squares(residual, start, bounds=([0.05, 0.01], [3.0, 1.0]), xtol=1e-12, ftol=1e-12)
        if best is None or r.cost < best.cost:
            best = r
    model = ReliefModel(relief_at_full_coverage=float(best.x[0]), unexplained_sd=float(best.x[1]))
    fitted = {a: float(100 * model.responder_probability(coverage_by_arm[a]).mean()) for a in arms}
    return Fit(model=model, targets_pct={a: targets_pct[a] for a in arms}, fitted_pct=fitted,
               exact=all(abs(fitted[a] - targets_pct[a]) < 0.1 for a in arms))


def bootstrap_pct(p: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> tuple[float | None, float | None]:
    """95% interval of 100 x the mean of ``p`` over resampled patients (the cohort's sampling); None for
    no patients."""
    p = np.asarray(p, float)
    if len(p) == 0:
        return (None, None)
    rng = np.random.default_rng(seed)
    means = p[rng.integers(0, len(p), size=(n_resamples, len(p)))].mean(1)
    lo, hi = np.percentile(100 * means, [2.5, 97.5])
    return (round(float(lo), 2), round(float(hi), 2))
