"""The cohort's report: per arm, the responder rate with its 95% interval, relief, coverage, off-target,
paresthesia-free share, posture spread, energy and battery; the calibration and hold-out studies side by
side (``data/trials.json``); figures and an HTML page under ``<folder>/report``.

The paired view holds every patient with both arms finished; the randomized view only the arm each
patient was randomized to (ACCURATE's design). The relief model (``cohort.relief``) is fitted on the
paired view.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from drgsim.anatomy._data import load_json
from drgsim.cohort.population import ARMS, CohortConfig
from drgsim.cohort.relief import Fit, bootstrap_pct, fit
from drgsim.cohort.run import MANIFEST, RESULTS, CohortError, read_manifest, read_rows
from drgsim.therapy.report import COLOURS, _figure


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return round(float(np.median(vals)), 3) if vals else None


def _coverage(rows: list[dict], key: str = "pain_coverage_pct") -> np.ndarray:
    """The relief model's input: pain coverage in the programming posture (fraction), at 3 months unless
    ``key`` names another phase's."""
    return np.array([r[key] / 100 for r in rows])


def _endpoint(rows: list[dict]) -> np.ndarray:
    """The coverage of ACCURATE's composite endpoint (>= 50% relief at the end of trial and at 3 months):
    with the patient's unexplained relief shared by both phases, the lower of the two (``cohort.relief``)."""
    return np.minimum(_coverage(rows, "trial_pain_coverage_pct"), _coverage(rows))


def _arm_summary(rows: list[dict], randomized: list[dict], relief: Fit, seed: int) -> dict:
    m = relief.model
    p = m.responder_probability(_endpoint(rows))
    p_rand = m.responder_probability(_endpoint(randomized))
    p_trial = m.responder_probability(_coverage(rows, "trial_pain_coverage_pct"))
    relief_pct = 100 * m.expected_relief(_coverage(rows))
    return {
        "n": len(rows),
        "responder_pct": round(float(100 * p.mean()), 2), "responder_ci95": list(bootstrap_pct(p, seed=seed)),
        "trial_success_pct": round(float(100 * p_trial.mean()), 2),
        "trial_success_ci95": list(bootstrap_pct(p_trial, seed=seed)),
        "trial_pain_coverage_pct_median": _median(rows, "trial_pain_coverage_pct"),
        "relief_pct_median": round(float(np.median(relief_pct)), 2),
        "relief_pct_quartiles": [round(float(q), 2) for q in np.percentile(relief_pct, [25, 75])],
        "pain_coverage_pct_median": _median(rows, "pain_coverage_pct"),
        "off_target_pct_median": _median(rows, "off_target_pct"),
        "paresthesia_free_pct": round(100 * float(np.mean([r["abeta_activated"] == 0 for r in rows])), 2),
        "posture_spread_pct_median": _median(rows, "posture_spread_pct"),
        "coverage_spread_pct_median": _median(rows, "coverage_spread_pct"),
        "average_current_ua_median": _median(rows, "average_current_ua"),
        "battery_years_median": _median(rows, "battery_years"),
        "primary_cell_years_median": _median(rows, "primary_cell_years"),
        "randomized": {"n": len(randomized), "responder_pct": round(float(100 * p_rand.mean()), 2) if len(randomized)
                       else None, "responder_ci95": list(bootstrap_pct(p_rand, seed=seed))},
    }


def _simulated(measure: str, arm_rows: list[dict], arm: dict, relief: Fit) -> float | None:
    """The cohort's number for a published measure (the model has no time: 3 and 12 months agree)."""
    if measure.startswith("responder_pct_") and measure.endswith("months"):
        return arm["responder_pct"]
    if measure in ("paresthesia_free_pct", "trial_success_pct"):
        return arm[measure]
    if measure.startswith("mean_relief_pct"):
        return round(float(100 * relief.model.expected_relief(_coverage(arm_rows)).mean()), 2)
    if measure.startswith("responder_pct_"):  # by pain region: the patients whose pain includes it
        group = measure.removeprefix("responder_pct_")
        sub = [r for r in arm_rows if group in r["pain_groups"].split(",")]
        return round(float(100 * relief.model.responder_probability(_endpoint(sub)).mean()), 2) if sub else None
    raise ValueError(f"unknown measure {measure!r} in trials.json")


def _cohort_rows(out: Path, option: str) -> tuple[CohortConfig, dict[str, list[dict]], dict[str, list[dict]]]:
    """A folder's cohort, its paired rows per arm (the patients with both arms finished) and its randomized
    rows (each patient's own arm)."""
    if not (out / MANIFEST).is_file():
        raise CohortError(f"{option}={str(out)!r}: no {MANIFEST} there; give the --out folder of `drgsim cohort run`")
    config = read_manifest(out, option)
    by_patient: dict[int, dict[str, dict]] = {}
    for r in read_rows(out):
        by_patient.setdefault(r["index"], {})[r["arm"]] = r
    paired = {i: arms for i, arms in by_patient.items() if all(a in arms for a in ARMS)}
    if not paired:
        raise CohortError(f"{option}={str(out)!r}: no patient has both arms finished under {RESULTS}/ yet; run "
                          "`drgsim cohort run` first")
    arm_rows = {a: [paired[i][a] for i in sorted(paired)] for a in ARMS}
    randomized = {a: [arms[a] for arms in by_patient.values() if a in arms and arms[a]["randomized_arm"] == a]
                  for a in ARMS}
    return config, arm_rows, randomized


def cohort_report(out: Path, calibrate_on: Path | None = None) -> dict:
    """The report's numbers from a cohort folder (``drgsim cohort run``'s ``--out``). The relief model is
    fitted on this cohort, or on the cohort in ``calibrate_on`` (then applied here unchanged: how another
    lead error scale or population moves the rates away from a calibrated cohort)."""
    config, arm_rows, randomized = _cohort_rows(out, "DIR")
    paired = len(arm_rows[ARMS[0]])
    basis = arm_rows if calibrate_on is None else _cohort_rows(calibrate_on, "--calibrate-on")[1]
    relief = fit({a: _endpoint(basis[a]) for a in ARMS})
    arms = {a: _arm_summary(arm_rows[a], randomized[a], relief, config.seed) for a in ARMS}
    comparison = []
    for r in load_json("trials.json")["results"]:
        sim = _simulated(r["measure"], arm_rows[r["arm"]], arms[r["arm"]], relief)
        comparison.append({"study": r["study"], "measure": r["measure"], "arm": r["arm"], "published": r["published"],
                           "simulated": sim, "error_pp": None if sim is None else round(sim - r["published"], 2),
                           "used_for": r["used_for"], "note": r["note"]})
    hold = [c["error_pp"] for c in comparison if c["used_for"] == "hold-out" and c["error_pp"] is not None]
    return {"n_patients": config.n, "paired_patients": paired, "quality": config.quality, "seed": config.seed,
            "lead_error_scale": config.population.lead_error_scale,
            **arms, "relief_model": relief.model.model_dump(mode="json"), "comparison": comparison,
            "calibration": {"published_pct": relief.targets_pct, "fitted_pct": {a: round(v, 2) for a, v in
                                                                                relief.fitted_pct.items()},
                            "exact": relief.exact, "cohort": str(calibrate_on or out)},
            "hold_out_mean_abs_error_pp": round(float(np.mean(np.abs(hold))), 2) if hold else None}


def write_report(out: Path, report: dict) -> Path:
    """Figures and report.html under ``out/report``; the page's path."""
    folder = out / "report"
    folder.mkdir(exist_ok=True)
    rows = read_rows(out)
    figures = [_responder_figure(report, folder / "responders.png"),
               _scatter_figure(report, rows, folder / "coverage_vs_relief.png"),
               _spread_figure(rows, folder / "posture_spread.png")]
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    page = folder / "report.html"
    page.write_text(_html(report, figures))
    return page


def _responder_figure(report: dict, path: Path) -> Path:
    fig = _figure((6, 4))
    ax = fig.subplots()
    published = {c["arm"]: c["published"] for c in report["comparison"] if c["measure"] == "responder_pct_3_months"}
    for k, arm in enumerate(ARMS):
        a = report[arm]
        lo, hi = a["responder_ci95"]
        ax.bar(k, a["responder_pct"], color=COLOURS[arm], yerr=[[a["responder_pct"] - lo], [hi - a["responder_pct"]]],
               capsize=6, label=f"{arm.upper()} simulated (n={a['n']})")
        if arm in published:
            ax.plot([k - 0.4, k + 0.4], [published[arm]] * 2, color="black", linestyle="--")
    ax.set_xticks(range(len(ARMS)), [a.upper() for a in ARMS])
    ax.set_ylabel("responders (%), >= 50% relief")
    ax.set_ylim(0, 100)
    ax.set_title("Responders with 95% intervals; dashed: ACCURATE 3 months")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    return path


def _scatter_figure(report: dict, rows: list[dict], path: Path) -> Path:
    from drgsim.cohort.relief import ReliefModel

    model = ReliefModel.model_validate(report["relief_model"])
    fig = _figure((6, 4))
    ax = fig.subplots()
    for arm in ARMS:
        sub = [r for r in rows if r["arm"] == arm]
        c = _coverage(sub)
        ax.scatter(100 * c, 100 * model.expected_relief(c), s=14, color=COLOURS[arm], label=arm.upper())
    grid = np.linspace(0, 1, 101)
    ax.plot(100 * grid, 100 * model.expected_relief(grid), color="grey", linewidth=1, label="relief model")
    ax.axhline(50, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("pain coverage, programming posture (%)")
    ax.set_ylabel("expected relief (%)")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    return path


def _spread_figure(rows: list[dict], path: Path) -> Path:
    fig = _figure((6, 4))
    ax = fig.subplots()
    data = [[r["coverage_spread_pct"] for r in rows if r["arm"] == arm] for arm in ARMS]
    ax.boxplot(data, tick_labels=[a.upper() for a in ARMS])
    ax.set_ylabel("pain coverage spread across postures (pp)")
    ax.set_title("Posture spread per arm")
    fig.savefig(path, dpi=120)
    return path


def _html(report: dict, figures: list[Path]) -> str:
    keys = [k for k in report["drg"] if k != "randomized"]
    arm_rows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{html.escape(str(report[a][k]))}</td>"
                                                                  for a in ARMS) + "</tr>" for k in keys)
    arm_rows += "<tr><td>randomized view: responder_pct (n)</td>" + "".join(
        f"<td>{report[a]['randomized']['responder_pct']} ({report[a]['randomized']['n']})</td>" for a in ARMS) + "</tr>"
    cmp_rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c[k]))}</td>" for k in
                                        ("study", "measure", "arm", "published", "simulated", "error_pp", "used_for",
                                         "note")) + "</tr>" for c in report["comparison"])
    m = report["relief_model"]
    imgs = "".join(f'<img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">' for p in figures)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>drgsim cohort</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{border:1px solid #ccc;padding:2px 6px}}
table{{border-collapse:collapse}}img{{max-width:48%}}</style></head><body>
<h1>Virtual ACCURATE: {report['paired_patients']} patients in both arms (quality {html.escape(report['quality'])},
seed {report['seed']})</h1>
<p>Relief model: relief = {m['relief_at_full_coverage']:.3f} x coverage (programming posture) +
N(0, {m['unexplained_sd']:.3f}^2), bounded to 0-100%; a responder has >= 50% relief at the end of the trial (its
own leads) and at 3 months (the permanent leads), with the patient's unexplained term shared; fitted
to ACCURATE's 3-month arm rates on the cohort in {html.escape(report['calibration']['cohort'])} (calibration; exact:
{report['calibration']['exact']}); hold-out rows are predicted
without refitting (mean absolute error {report['hold_out_mean_abs_error_pp']} pp). The model knows no time course,
no sub-perception relief and no effect of off-target paresthesia, energy or posture on relief.</p>
<table><tr><th>measure</th>{''.join(f'<th>{a.upper()}</th>' for a in ARMS)}</tr>{arm_rows}</table>
<h2>Against the published trials</h2>
<table><tr><th>study</th><th>measure</th><th>arm</th><th>published</th><th>simulated</th><th>error (pp)</th>
<th>used for</th><th>note</th></tr>{cmp_rows}</table>
{imgs}</body></html>"""
