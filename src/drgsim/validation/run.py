"""Every validation case of the project, as one table: ``drgsim validate``.

Code verification: drgsim's cable solver against NEURON (strength-duration grid, firing windows near
the electrode), the field solver against analytic solutions. Calculation verification: time step.
Validation: Farooqui et al. 2024 (where spikes start in DRG neurons under epineural stimulation, and
at what current), Graham et al. 2019 (A-beta driven, C not), Sundt et al. 2015 (C-fibre following).
``quick`` samples the NEURON cases and lays fewer Farooqui neurons (its tolerances widen with the
sampling error, as written next to each case).
"""

from __future__ import annotations

import platform
import time

from pydantic import BaseModel

from drgsim.neurons.models.drg import SITES
from drgsim.populations.farooqui import FarooquiPopulationConfig
from drgsim.provenance import provenance
from drgsim.validation import farooqui, fields, neuron, physiology
from drgsim.validation.cases import ValidationCase, case

FAROOQUI_SOURCE = ("Farooqui et al. 2024, J Neural Eng 21:056030 (pitt-rnel/DRG-model-data2024, realistic "
                   "placement, centred epineural electrode)")
# Initiation shares are compared in percentage points: their sampling error (binomial, ~100-300
# activated neurons) plus the model differences named in drgsim.validation.farooqui.
FAROOQUI_PCT_TOLERANCE = {"quick": 20.0, "full": 15.0}
FAROOQUI_NEURONS = {"quick": 500, "full": 2000}
# Medians: 25% with 2,000 neurons; 40% with the quick 500, whose ~20 activated neurons per class give a
# median with about 20% sampling error on top of the model differences (no Gaines sensory node).
FAROOQUI_MEDIAN_TOLERANCE = {"quick": 0.40, "full": 0.25}


class ValidationReport(BaseModel):
    cases: list[ValidationCase]
    quick: bool
    passed: int
    failed: int
    seconds: float
    farooqui: farooqui.FarooquiResult
    environment: dict[str, str]


def environment() -> dict[str, str]:
    """What produced the numbers (``drgsim.provenance``: versions, commit, date), with the machine, as one flat
    table."""
    p = provenance()
    deps = p.pop("dependencies")
    return {**p, "machine": platform.machine(), "system": platform.system(), **deps}


def farooqui_cases(result: farooqui.FarooquiResult, quick: bool) -> list[ValidationCase]:
    tol = FAROOQUI_PCT_TOLERANCE["quick" if quick else "full"]
    ref = farooqui.reference_pct()
    n = f"{result.n_activated} of {result.n_neurons} drgsim neurons activated"
    out = [case(f"farooqui2024_initiation_{site}_pct", "validation", FAROOQUI_SOURCE, ref[site],
                result.initiation_pct[site], "% of activated", tol, "absolute", note=n) for site in SITES]
    for kind, label in (("abeta", "abeta_soma"), ("aalpha", "aalpha_soma")):
        value = result.median_threshold_ua[kind]
        out.append(case(f"farooqui2024_median_{label}_ua", "validation", FAROOQUI_SOURCE,
                        farooqui.REFERENCE_MEDIAN_UA[kind], float("nan") if value is None else value, "uA",
                        FAROOQUI_MEDIAN_TOLERANCE["quick" if quick else "full"],
                        note="median threshold of the activated neurons of the class (both below 420 uA)"))
    out.append(case("farooqui2024_cut_end_initiations", "validation", "drgsim's own requirement (issue 12)", 0,
                    result.cut_end_initiations, "spikes", 0, "absolute",
                    note="decisive spikes within two internodes of a truncated axon end"))
    return out


def validate(quick: bool = False, progress=None) -> ValidationReport:
    """Run every case; ``progress(what, done, total)`` hears of each stage."""
    t0 = time.perf_counter()
    stages = [("NEURON comparisons", lambda: neuron.cases(quick)), ("analytic fields", fields.cases),
              ("time step", physiology.time_step), ("Graham 2019", physiology.graham2019),
              ("Sundt 2015", physiology.sundt2015), ("Gemes 2013", physiology.gemes2013)]
    if not quick:  # trains of seconds: the full validation only
        stages += [("Sundt 2015 following", physiology.sundt2015_following), ("Chao 2020", physiology.chao2020)]
    cases: list[ValidationCase] = []
    for i, (what, run) in enumerate(stages):
        if progress:
            progress("validation stages", i, len(stages) + 1)
        cases += run()
    if progress:
        progress("validation stages", len(stages), len(stages) + 1)
    size = FAROOQUI_NEURONS["quick" if quick else "full"]
    mesh = farooqui.QUICK_MESH if quick else farooqui.FarooquiConfig().mesh
    result = farooqui.run(farooqui.FarooquiConfig(population=FarooquiPopulationConfig(n_neurons=size), mesh=mesh))
    cases += farooqui_cases(result, quick)
    if progress:
        progress("validation stages", len(stages) + 1, len(stages) + 1)
    passed = sum(c.passed for c in cases)
    return ValidationReport(cases=cases, quick=quick, passed=passed, failed=len(cases) - passed,
                            seconds=round(time.perf_counter() - t0, 1), farooqui=result, environment=environment())
