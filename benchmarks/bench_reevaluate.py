"""Benchmark: re-evaluating a program after an amplitude change, once the threshold tables are cached.

Run:  python benchmarks/bench_reevaluate.py [--quality standard|quick] [--steps 50] [--json out.json]

For the default patient's DRG implant (two leads) and SCS implant (one lead): a program is evaluated
once (fields and tables computed or read from the cache), then its amplitude is stepped up and down
the device grid ``--steps`` times, each step a full re-evaluation in the supine posture (who fires,
paresthesia map, coverage, off-target, side effects, thresholds, energy and battery). Reference,
measured in the same run: the same re-evaluation by direct simulation of every cell at the new
amplitude with drgsim's own batched solver (what the tables spare). Goal: < 50 ms per
re-evaluation (the patient controller and the web UI rely on it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from rich.console import Console
from rich.table import Table

from drgsim.anatomy.patient import default_patient
from drgsim.devices.program import LeadSettings, Program, as_contacts
from drgsim.neurons.solver import simulate
from drgsim.therapy.model import QUALITY, TherapyModel, plan_implant
from drgsim.therapy.outcomes import evaluate_posture, lead_tables

PROGRAMS = {"drg": ("0-+0", 0.5, 300.0, 20.0), "scs": ("000+-+00", 4.0, 300.0, 50.0)}


def _program(model: TherapyModel, system: str) -> Program:
    contacts, amp, pw, f = PROGRAMS[system]
    return Program(name="bench", leads={k: LeadSettings(contacts=contacts, amplitude_ma=amp, pulse_width_us=pw,
                                                        frequency_hz=f, enabled=True)
                                        for k in range(1, len(model.implant.leads) + 1)})


def _direct(model: TherapyModel, program: Program) -> float:
    """Seconds to answer the same question by simulating every cell at the programmed amplitudes."""
    jobs = []
    for k, (table, _) in lead_tables(model, program, "supine").items():
        site = model.site(k, "supine")
        batch, v = site.configuration_potentials(as_contacts(program.leads[k].contacts))
        jobs.append((batch, v, program.leads[k].amplitude_ma, table.waveform, site.quality.settings))
    t0 = time.perf_counter()
    for batch, v, amp, wf, settings in jobs:
        simulate(batch, v, amp, wf, settings)
    return time.perf_counter() - t0


def bench(system: str, quality: str, steps: int) -> dict:
    patient = default_patient()
    model = TherapyModel(patient, plan_implant(patient, system), QUALITY[quality])
    program = _program(model, system)
    t0 = time.perf_counter()
    evaluate_posture(model, program, "supine")
    first = time.perf_counter() - t0
    grid = model.implant.ipg().amplitude_ma
    times = []
    for i in range(steps):
        p = program.model_copy(deep=True)
        for s in p.leads.values():
            s.amplitude_ma = grid.step_from(s.amplitude_ma, 1 if i % 2 == 0 else -1)
        program = p
        t0 = time.perf_counter()
        evaluate_posture(model, program, "supine")
        times.append(time.perf_counter() - t0)
    direct = _direct(model, program)
    median = statistics.median(times)
    return {"system": system, "quality": quality, "cells": sum(len(model.site(k, "supine").info)
                                                              for k in range(1, len(model.implant.leads) + 1)),
            "first_evaluation_s": round(first, 2), "reevaluation_median_ms": round(1e3 * median, 2),
            "reevaluation_max_ms": round(1e3 * max(times), 2), "direct_simulation_ms": round(1e3 * direct, 1),
            "speedup_vs_direct": round(direct / median, 1), "goal_ms": 50.0, "meets_goal": median < 0.050}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality", default="standard", choices=list(QUALITY))
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args()
    rows = [bench(s, args.quality, args.steps) for s in ("drg", "scs")]
    table = Table(title="Re-evaluation after an amplitude change (supine, tables cached)")
    table.add_column("measure")
    for r in rows:
        table.add_column(r["system"], justify="right")
    for k in rows[0]:
        table.add_row(k, *[str(r[k]) for r in rows])
    Console().print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
