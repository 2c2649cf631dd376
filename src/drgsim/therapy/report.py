"""The DRG-versus-SCS report: an HTML page with PNG figures, and the figures themselves.

Figures (matplotlib Agg, no display): body maps of the pain and of each system's paresthesia (pain
regions outlined), recruitment curves of each programmed lead, perception threshold, coverage and the
amplitude needed in every posture, energy (average current, battery years on each system's own
device and on the DRG IPG's primary cell) and, when a day of postures was simulated, time in the
therapeutic window and current open and closed loop. Every term the page uses is defined in its glossary; the
page names the commit, date and library versions of the run, its methods and references, and that it
is for research only.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from drgsim.anatomy.bodymap import draw_body_map, draw_region_values
from drgsim.anatomy.posture import Posture
from drgsim.devices.program import contacts_label
from drgsim.provenance import NOTICE
from drgsim.references import cite
from drgsim.therapy.compare import Comparison, SystemResult
from drgsim.therapy.systems import SYSTEMS

KIND_LABELS = {"abeta": "A-beta", "adelta": "A-delta", "c": "C", "motor": "motor axon",
               "dorsal_column": "dorsal column", "dorsal_root": "dorsal root"}
COLOURS = {spec.system.value: spec.colour for spec in SYSTEMS.values()}
POSTURES = [p.value for p in Posture]

GLOSSARY = {
    "pain coverage": "The share of the pain map that feels paresthesia, each region weighted by its pain (NRS) and "
                     "its area (%).",
    "off-target share": "The share of the paresthesia area that lies outside the pain map (%).",
    "paresthesia area / pain area": "The area that feels paresthesia over the area of the pain map.",
    "covered share of region": "The share of a body region's area that feels paresthesia: a region is fully "
                               "covered once half of the A-beta afferents of its dermatomes fire.",
    "C fibres activated": "C-type DRG neurons fired directly by the pulse (count).",
    "nociceptive transmission": "The share of ongoing peripheral spikes (5 Hz) that C-type DRG neurons carry through "
                                "the T-junction to the cord under the program's pulse train, over every C neuron of "
                                "the populations (%; 100: unchanged). SCS does not act on the ganglion: the twin "
                                "predicts transmission unchanged for it, 100% by construction.",
    "A-delta activated": "A-delta DRG neurons fired directly by the pulse (count).",
    "motor activation": "Whether a motor axon (DRG: the ventral root) or, for SCS, a dorsal-root fibre (which evokes "
                        "segmental motor responses) fires at the programmed amplitude.",
    "average current": "The stimulation current delivered to the tissue averaged over the day: amplitude x pulse "
                       "width x frequency, summed over the leads (uA).",
    "stimulation drain": "The optimizer's cost: the battery current the stimulation alone draws through the IPG's "
                         "output stage and converter (uA); the battery current adds the IPG's own quiescent, "
                         "telemetry and self-discharge currents.",
    "battery years, own IPG": "Years until each system's own IPG must be replaced: the DRG IPG's primary cell runs "
                              "out; the SCS IPG's rechargeable cell reaches its service or cycle life.",
    "years on the DRG IPG's primary cell": "How long the DRG IPG's primary cell would last with each system's "
                                           "program: the like-for-like energy comparison.",
    "recharge interval": "Days between recharges of a rechargeable IPG with the program (n/a: primary cell).",
    "perception threshold": "The lowest amplitude at which an A-beta fibre fires, with the programmed contacts and "
                            "pulse (mA).",
    "discomfort threshold": "The lowest amplitude at which a cell that causes discomfort fires (DRG: an A-delta or C "
                            "neuron or a motor axon; SCS: a dorsal-root fibre, which evokes segmental motor "
                            "responses), with the programmed contacts and pulse (mA; n/a: none within the device's "
                            "range).",
    "therapeutic window": "Discomfort threshold / perception threshold: how far the amplitude can be turned up from "
                          "first paresthesia before discomfort (Holsheimer's usage ratio), the smallest over the "
                          "leads.",
    "cells that set the therapeutic window": "On the lead with the smallest window, the A-beta fibre that fires first "
                                             "and the discomfort cell that fires first: kind, diameter, segment and "
                                             "side, threshold, and the compartment where its spike starts.",
    "posture spread": "(largest - smallest) / mean of the perception threshold over supine, prone, sitting and "
                      "standing (%).",
    "pain coverage at the programmed amplitude": "Pain coverage in a posture with the program as set in the "
                                                  "programming posture.",
    "amplitude needed": "The lowest amplitudes, every enabled lead's programmed amplitude times one factor rounded "
                        "up to the device's steps, at which a posture's pain coverage reaches the optimizer's "
                        "target (n/a: not within the device's range).",
    "95% interval": "The bootstrap interval of a number over the sampling of the modelled cells: the uncertainty "
                    "that the population sizes leave, not a clinical interval.",
    "supported": "A claim is supported when DRG's number is the better one; the numbers stand either way.",
    "time in the therapeutic window": "Through a day of postures, the share of the time the delivered amplitude lies "
                                      "between the posture's perception and discomfort thresholds (%; EVOKE's "
                                      "measure).",
    "overstimulation events": "Through a day, the times the delivered amplitude rises above the posture's discomfort "
                              "threshold (count).",
    "battery per day": "What the IPG's battery gives over the day, the stimulation and the device's own currents, "
                       "per 24 h (mAh).",
    "mean amplitude": "The delivered amplitude of the controlled lead averaged over the day (mA).",
    "device adjustments": "The amplitude changes closed loop made through the day, each an event in the device's "
                          "log (0 open loop).",
    "open loop": "The programmed amplitude all day, whatever the posture: how both systems are used today.",
    "closed loop": "The device measures the evoked compound action potential (ECAP) on the lead's other contacts and "
                   "adjusts the amplitude to hold it at the response of the programmed amplitude in the programming "
                   "posture (proportional-integral, as Saluda Evoke), within the lead's clinician window; every "
                   "change is a device event. No DRG system offers it: the DRG column is the twin's prediction.",
}

METHODS = """Each system is planned on the same virtual patient: DRG leads at the ganglia whose dermatomes match the
pain map, one SCS lead at T10 over the painful side. The electric field of every contact is solved by the finite
element method (NGSolve; unit current, superposition for any program) in a volume conductor of the patient's anatomy
in each posture. Populations of DRG neurons and motor axons (in the ganglion) or dorsal-column and dorsal-root fibres
(in the canal) are laid into the field; every cell's threshold for a program's contacts and pulse comes from a cable
model (MRG myelinated axons, pseudo-unipolar DRG neurons) simulated by drgsim's kernel, which matches NEURON. The
optimizer searches the device's grid for the lowest-energy program covering the target share of the pain map without
motor activation, in the programming posture; that program is then evaluated in every posture."""

REFERENCES = cite("deer2017", "mcintyre2002", "graham2019", "farooqui2024", "sundt2015", "holsheimer2002",
                  "hines1997", "schoberl2014", "efron1993", "mekhail2020", "mekhail2022")


def _figure(size=(7.5, 4.0)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def paresthesia_map(result: SystemResult, pain_regions: set[str], path: Path) -> Path:
    ref = result.outcome.posture(result.optimization.config.posture)
    name = result.system.value.upper()
    return draw_region_values(ref.paresthesia, path, f"{name} paresthesia ({ref.posture.value}): covered share of "
                              f"each region; pain map outlined in red. Coverage {ref.pain_coverage_pct:.0f}%, "
                              f"off-target {ref.off_target_pct:.0f}%", vmax=1.0, cmap="Blues",
                              label="covered share of region", outline=pain_regions)


def recruitment_figure(cmp: Comparison, path: Path) -> Path:
    fig = _figure((10, 4.4))
    axes = fig.subplots(1, 2)
    for ax, r in zip(axes, (cmp.drg, cmp.scs)):
        for curve in r.recruitment:
            for kind, shares in curve.shares.items():
                ax.plot(curve.amplitudes_ma, [100 * v for v in shares],
                        label=f"lead {curve.lead} {curve.level} {curve.contacts}: {KIND_LABELS.get(kind, kind)}")
            ax.axvline(curve.programmed_ma, color="grey", linestyle=":", linewidth=1,
                       label=f"lead {curve.lead}: programmed {curve.programmed_ma:g} mA")
        ax.set_title(f"{r.system.value.upper()} recruitment ({r.optimization.config.posture.value})")
        ax.set_xlabel("amplitude (mA)")
        ax.set_ylabel("cells of each kind activated (%)")
        ax.legend(fontsize=6, title="lead, level, contacts: cells", title_fontsize=6)
    fig.savefig(path, dpi=130)
    return path


def posture_figure(cmp: Comparison, path: Path) -> Path:
    import numpy as np

    fig = _figure((12, 4))
    axes = fig.subplots(1, 3)
    x = np.arange(len(POSTURES))
    for i, r in enumerate((cmp.drg, cmp.scs)):
        name, shift = r.system.value, (i - 0.5) * 0.38
        pt = [r.outcome.perception_threshold_ma.get(p) for p in POSTURES]
        base = next((v for v in pt if v), None)
        rel = [100 * v / base if v and base else 0.0 for v in pt]
        cov = [r.outcome.posture(p).pain_coverage_pct for p in POSTURES]
        need = {a.posture.value: a.scale for a in r.amplitude_needed}
        scale = [need.get(p) or 0.0 for p in POSTURES]
        for ax, values in zip(axes, (rel, cov, scale)):
            bars = ax.bar(x + shift, values, 0.38, color=COLOURS[name], label=name.upper())
            ax.bar_label(bars, labels=[f"{v:.3g}" if v else "n/a" for v in values], fontsize=7)
    axes[0].set_title(f"perception threshold\n(% of {POSTURES[0]}; spread DRG {cmp.drg.outcome.posture_spread_pct}%, "
                      f"SCS {cmp.scs.outcome.posture_spread_pct}%)", fontsize=9)
    axes[1].set_title("pain coverage at the programmed amplitude (%)", fontsize=9)
    axes[2].set_title(f"amplitude needed for {cmp.optimizer.target_coverage_pct:g}% coverage\n"
                      "(x programmed; n/a: not within the device's range)", fontsize=9)
    for ax in axes:
        ax.set_xticks(x, POSTURES)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=130)
    return path


def energy_figure(cmp: Comparison, path: Path) -> Path:
    import numpy as np

    fig = _figure((11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    results = (cmp.drg, cmp.scs)
    current = [r.outcome.posture(r.optimization.config.posture).average_current_ua for r in results]
    bars = ax1.bar(["DRG", "SCS"], current, color=[COLOURS["drg"], COLOURS["scs"]])
    ax1.bar_label(bars, labels=[f"{v:.3g}" for v in current], fontsize=9)
    ax1.set_ylabel("average current (uA)")
    readings = {"own IPG": [r.outcome.posture(r.optimization.config.posture).battery_years for r in results],
                "DRG IPG's primary cell": [r.primary_cell_years for r in results]}
    x = np.arange(len(readings))
    for i, r in enumerate(results):
        values = [v[i] for v in readings.values()]
        bars = ax2.bar(x + (i - 0.5) * 0.38, values, 0.38, color=COLOURS[r.system.value], label=r.system.value.upper())
        ax2.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=8)
    ax2.set_xticks(x, list(readings))
    ax2.set_ylabel("battery years")
    ax2.set_title("years until replacement: each on its own IPG, and both on the DRG IPG's primary cell", fontsize=9)
    ax2.legend(fontsize=8)
    fig.savefig(path, dpi=130)
    return path


def _transmission_caption(cmp: Comparison) -> str:
    """What the frequency-sweep figure simulates, and SCS's prediction."""
    scs = ("SCS does not act on the ganglion (its populations hold no DRG neuron): the twin predicts nociceptive "
           "transmission unchanged, 100% at every frequency, by construction.")
    sweep = cmp.transmission_sweep
    if sweep is None:
        return f"No DRG lead is on: nothing to sweep. {scs}"
    c = sweep.config
    return (f"A representative C-type DRG neuron (Sundt et al. 2015) with a point source {c.distance_mm:g} mm from its "
            f"T-junction, driven at {c.amplitude_ratio:.3g} x its threshold (the DRG program's highest amplitude / "
            f"threshold over its C neurons; an upper bound where all are silent up to the device's maximum) with "
            f"{c.pulse_width_us:g} us pulses, while {c.ongoing_hz:g} Hz of peripheral spikes arrive for "
            f"{c.duration_s:g} s, at each stimulation frequency: the share that reaches the cord with and without "
            f"stimulation. The DRG program itself runs at {cmp.drg.optimization.program.leads[1].frequency_hz:g} Hz; "
            f"its C neurons transmit {display_value(cmp.drg.nociceptive_transmission.transmitted_pct)}%. {scs}")


def transmission_figure(cmp: Comparison, path: Path) -> Path:
    """Transmission against stimulation frequency: the DRG program's sweep (``compare.transmission_sweep``), and
    SCS at 100% by construction."""
    fig = _figure((7.5, 3.8))
    ax = fig.subplots()
    sweep = cmp.transmission_sweep
    if sweep is not None:
        f = [p.frequency_hz for p in sweep.points]
        ax.plot(f, [100 * p.fraction_without for p in sweep.points], "o--", color="0.5", label="without stimulation")
        ax.plot(f, [100 * p.fraction_with for p in sweep.points], "o-", color=COLOURS["drg"],
                label=f"DRG, {sweep.config.amplitude_ratio:.3g} x C threshold")
        ax.set_xscale("log")
    ax.axhline(100, color=COLOURS["scs"], linestyle=":", label="SCS: unchanged by construction")
    ax.set_xlabel("stimulation frequency (Hz)")
    ax.set_ylabel("peripheral spikes reaching the cord (%)")
    ax.set_ylim(-5, 110)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=130)
    return path


def closed_loop_figure(cmp: Comparison, path: Path) -> Path:
    """Time in the therapeutic window and average current through the day, open and closed loop, per system (both
    systems went through the day)."""
    fig = _figure((9, 3.5))
    window_ax, current_ax = fig.subplots(1, 2)
    results = (cmp.drg, cmp.scs)
    for i, r in enumerate(results):
        loops = (r.closed_loop.open_loop, r.closed_loop.closed_loop)
        for j, (loop, hatch) in enumerate(zip(loops, ("", "//"))):
            x = i + (j - 0.5) * 0.38
            label = ("open loop", "closed loop")[j] if i == 0 else None
            window_ax.bar(x, loop.time_in_window_pct, 0.36, color=COLOURS[r.system.value], hatch=hatch,
                          edgecolor="black", label=label)
            current_ax.bar(x, loop.average_current_ua, 0.36, color=COLOURS[r.system.value], hatch=hatch,
                           edgecolor="black")
    for ax, ylabel in ((window_ax, "time in the therapeutic window (%)"), (current_ax, "average current (uA)")):
        ax.set_xticks(range(len(results)), [r.system.value.upper() for r in results])
        ax.set_ylabel(ylabel)
    window_ax.set_ylim(0, 105)
    window_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Through the day '{cmp.drg.closed_loop.day}': open loop (plain) and closed loop (hatched)",
                 fontsize=10)
    fig.savefig(path, dpi=120)
    return path


def _day_rows(cmp: Comparison) -> list[list]:
    """Each measure of the day, open and closed loop, for both systems."""
    d, s = cmp.drg.closed_loop, cmp.scs.closed_loop
    measures = [("time in the therapeutic window (%)", "time_in_window_pct"),
                ("time in the therapeutic window: below perception (%)", "below_perception_pct"),
                ("time in the therapeutic window: above discomfort (%)", "above_discomfort_pct"),
                ("overstimulation events", "overstimulation_events"),
                ("average current (uA)", "average_current_ua"), ("battery per day (mAh)", "battery_mah_per_day"),
                ("mean amplitude (mA)", "mean_amplitude_ma"), ("device adjustments", "adjustments")]
    return [[label, *[display_value(getattr(getattr(r, loop), key)) for r in (d, s)
                      for loop in ("open_loop", "closed_loop")]] for label, key in measures]


def _day_section(cmp: Comparison, figure: str) -> str:
    """The day of postures, open and closed loop, with ``figure`` (the closed-loop figure's ``<img>``); where no day
    was simulated, how to ask for one."""
    d, s = cmp.drg.closed_loop, cmp.scs.closed_loop
    if d is None or s is None:
        return ("<h2>Through a day: open and closed loop</h2><p id='day'>Not simulated in this run: <code>drgsim "
                "compare --day FILE</code> runs both systems through a day of postures (examples/day.yaml), open and "
                "closed loop.</p>")
    loop = (f"lead {d.lead} (DRG) and lead {s.lead} (SCS), {d.mode} controller, target set "
            f"{d.programming_posture.value}: DRG {d.target_uv:.3g} uV, SCS {s.target_uv:.3g} uV")
    return (f"<h2>Through a day: open and closed loop</h2><p id='day'>The day '{html.escape(d.day)}' ({d.hours:g} h, "
            f"postures and transitions as the day file gives them), each posture's thresholds and ECAP growth curve "
            f"from the physics, interpolated through transitions; closed loop on {html.escape(loop)}.</p>"
            + _table(_day_rows(cmp), ["measure", "DRG open loop", "DRG closed loop", "SCS open loop",
                                      "SCS closed loop"], "measures")
            + figure)


def display_value(v) -> str:
    """A value as a person reads it, never a Python repr: n/a, yes/no, a float without trailing zeros."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _table(rows: list[list], head: list[str], cls: str = "") -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(display_value(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _program_rows(r: SystemResult) -> list[list]:
    rows = []
    for k, s in sorted(r.optimization.program.leads.items()):
        lead = r.implant.leads[k - 1]
        rows.append([f"{r.system.value.upper()} lead {k}", f"{lead.level.value} {lead.side.value}",
                     contacts_label(s.contacts) if s.enabled else "off",
                     f"{s.amplitude_ma:g}" if s.enabled else "-", f"{s.pulse_width_us:g}", f"{s.frequency_hz:g}"])
    return rows


def _outcome_rows(cmp: Comparison) -> list[list]:
    """Rows of the outcomes table, each labelled by a glossary term (then its posture and unit)."""
    d, s = cmp.drg.summary(), cmp.scs.summary()
    metrics = [
        ("pain coverage", " (%)", "pain_coverage_pct"), ("off-target share", " (%)", "off_target_pct"),
        ("paresthesia area / pain area", "", "paresthesia_area_ratio"),
        ("C fibres activated", "", "c_fibers_activated"), ("A-delta activated", "", "adelta_activated"),
        ("nociceptive transmission", " (%)", "nociceptive_transmission_pct"),
        ("motor activation", "", "motor_activated"), ("average current", " (uA)", "average_current_ua"),
        ("battery years, own IPG", "", "battery_years"),
        ("years on the DRG IPG's primary cell", "", "primary_cell_years"),
        ("recharge interval", " (days)", "recharge_interval_days"), ("posture spread", " (%)", "posture_spread_pct")]
    posture = cmp.optimizer.posture.value
    rows = [[f"{term}{unit}", _with_interval(d, key), _with_interval(s, key)] for term, unit, key in metrics]
    rows += [[f"perception threshold, {p} (mA)", _r(d["perception_threshold_ma"][p]),
              _r(s["perception_threshold_ma"][p])] for p in POSTURES]
    rows.append([f"95% interval of the perception threshold, {posture} (mA)",
                 _interval(d["intervals"]["perception_threshold_ma"]),
                 _interval(s["intervals"]["perception_threshold_ma"])])
    return rows


def _posture_rows(cmp: Comparison) -> list[list]:
    """Each measure in every posture, measure by measure, each labelled by a glossary term."""
    at = lambda r, p: r.outcome.posture(p)  # noqa: E731
    measures = [
        ("pain coverage at the programmed amplitude, {} (%)", lambda r, p: at(r, p).pain_coverage_pct),
        (f"amplitude needed for {cmp.optimizer.target_coverage_pct:g}% pain coverage, {{}} (mA)", _needed),
        ("discomfort threshold, {} (mA)", lambda r, p: _r(at(r, p).discomfort_threshold_ma)),
        ("therapeutic window, {}", lambda r, p: at(r, p).therapeutic_window),
        ("cells that set the therapeutic window, {}", _window_cells)]
    return [[label.format(p), *[value(r, p) for r in (cmp.drg, cmp.scs)]] for label, value in measures
            for p in POSTURES]


def _window_cells(r: SystemResult, posture: str) -> str:
    """What sets the window: the first A-beta fibre and the first discomfort cell of the lead with the smallest
    window (or, where no discomfort cell fires within the device's range, of every lead)."""
    out = r.outcome.posture(posture)
    leads = [x for x in out.leads if out.window_lead in (None, x.lead)]
    parts = []
    for x in leads:
        first = x.perception_cell.describe() if x.perception_cell else "none within the device's range"
        discomfort = x.discomfort_cell.describe() if x.discomfort_cell else "none within the device's range"
        parts.append(f"lead {x.lead}: perception {first}; discomfort {discomfort}")
    return " | ".join(parts) or "n/a"


def _needed(r: SystemResult, posture: str) -> str:
    a = next((x for x in r.amplitude_needed if x.posture.value == posture), None)
    if a is None or a.amplitudes_ma is None:
        return "n/a"
    amps = ", ".join(f"lead {k}: {v:g}" for k, v in sorted(a.amplitudes_ma.items()))
    return f"{amps} (x{a.scale:.3g}{'; motor activation' if a.motor_activated else ''})"


def _provenance(cmp: Comparison) -> str:
    p = cmp.provenance
    deps = ", ".join(f"{k} {v}" for k, v in p.get("dependencies", {}).items())
    get = lambda key: html.escape(str(p.get(key, "n/a")))  # noqa: E731
    return (f"drgsim {html.escape(cmp.drgsim_version)}, commit <code>{get('commit')}</code>, run {get('date_utc')}; "
            f"Python {get('python')} on {get('platform')}; {html.escape(deps)}.")


def _runs_table(runs: list[dict]) -> str:
    stages = sorted({k for r in runs for k in r["seconds"]})
    rows = [[r.get("date_utc"), r.get("total_seconds"), *[r["seconds"].get(k) for k in stages]] for r in runs]
    return _table(rows, ["run (UTC)", "total (s)", *[f"{k} (s)" for k in stages]])


def _claims(cmp: Comparison) -> str:
    return "".join(f"<li class='{'yes' if c.supported else 'no'}'><b>{html.escape(c.claim)}</b>: "
                   f"{html.escape(c.statement)}</li>" for c in cmp.claims)


def write_report(cmp: Comparison, out: Path, runs: list[dict] | None = None) -> Path:
    """Write figures and report.html into ``out``; return the report's path. ``runs``: the timings of this and
    earlier runs into the same folder (``write_outputs``); default this run's."""
    out.mkdir(parents=True, exist_ok=True)
    runs = runs or [{"date_utc": cmp.provenance.get("date_utc", "n/a"), "seconds": cmp.seconds}]
    pain = {k for k, v in cmp.pain_map.nrs.items() if v > 0}
    figs = {
        "pain": draw_body_map(cmp.pain_map, out / "pain_map.png"),
        "drg": paresthesia_map(cmp.drg, pain, out / "paresthesia_drg.png"),
        "scs": paresthesia_map(cmp.scs, pain, out / "paresthesia_scs.png"),
        "recruitment": recruitment_figure(cmp, out / "recruitment.png"),
        "posture": posture_figure(cmp, out / "posture.png"),
        "energy": energy_figure(cmp, out / "energy.png"),
        "transmission": transmission_figure(cmp, out / "transmission.png"),
    }
    day = cmp.drg.closed_loop is not None and cmp.scs.closed_loop is not None
    if day:
        figs["closed_loop"] = closed_loop_figure(cmp, out / "closed_loop.png")
    explain = "".join(f"<h3>{r.system.value.upper()}</h3><ul>" +
                      "".join(f"<li>{html.escape(x)}</li>" for x in r.optimization.explanation) + "</ul>"
                      for r in (cmp.drg, cmp.scs))
    img = lambda key, alt: f"<img src='{figs[key].name}' alt='{html.escape(alt)}'>"  # noqa: E731
    glossary = "".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in GLOSSARY.items())
    refs = "".join(f"<li>{html.escape(r)}</li>" for r in REFERENCES)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>drgsim: DRG versus SCS for {html.escape(cmp.patient_id)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;
margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}img{{max-width:100%}}
.maps img{{width:32%}}li.yes{{color:#185c18}}li.no{{color:#8a1c1c}}code{{font-size:85%}}
.notice{{border:2px solid #8a1c1c;padding:.5em 1em;background:#fff4f4}}dt{{font-weight:bold}}</style></head><body>
<h1>DRG versus SCS: {html.escape(cmp.patient_id)}</h1>
<p class="notice" id="notice">{html.escape(NOTICE)}</p>
<p>Patient hash <code>{cmp.patient_hash[:16]}</code>; quality <code>{html.escape(cmp.quality)}</code>
(population scale {cmp.population_scale:g}). {_provenance(cmp)} To cite drgsim, see its CITATION.cff.</p>
<p>Both systems planned on the same virtual patient, programs optimized in the {cmp.optimizer.posture.value} posture to
cover at least {cmp.optimizer.target_coverage_pct:g}% of the pain map without motor activation, then evaluated in every
posture. Bracketed: the 95% interval of a number over the sampling of the modelled cells
({cmp.drg.intervals.n_resamples} redraws, {cmp.optimizer.posture.value}). Terms are defined in the glossary below.</p>
<h2>The {len(cmp.claims)} claims, in numbers</h2><ul id="claims">{_claims(cmp)}</ul>
<h2>Programs</h2>{_table(_program_rows(cmp.drg) + _program_rows(cmp.scs),
                          ["lead", "target", "contacts", "amplitude (mA)", "pulse width (us)", "frequency (Hz)"])}
<h2>Outcomes</h2><p>In the {cmp.optimizer.posture.value} posture, where the programs were chosen, unless a row names
another.</p>{_table(_outcome_rows(cmp), ["measure", "DRG", "SCS"], "measures")}
<h2>Every posture</h2>{_table(_posture_rows(cmp), ["measure", "DRG", "SCS"], "measures")}
{img("posture", "perception threshold, coverage and amplitude needed in every posture")}
<h2>Pain and paresthesia</h2><div class="maps">{img("pain", "pain map")}{img("drg", "DRG paresthesia")}
{img("scs", "SCS paresthesia")}</div>
<h2>Recruitment</h2>{img("recruitment", "recruitment curves")}
<h2>Energy and battery</h2>{img("energy", "energy")}
<h2>Nociceptive transmission against frequency</h2><p id="transmission">{html.escape(_transmission_caption(cmp))}</p>
{img("transmission", "nociceptive transmission against stimulation frequency")}
{_day_section(cmp, img("closed_loop", "time in the therapeutic window and current, open and closed loop") if day
               else "")}
<h2>How the programs were chosen</h2>{explain}
<h2>Methods</h2><p>{html.escape(METHODS)}</p><h3>References</h3><ol>{refs}</ol>
<h2>Glossary</h2><dl id="glossary">{glossary}</dl>
<h2>Runs</h2><p>Seconds per stage of each run of this patient into this folder, oldest first (a run whose fields
and threshold tables were cached reads them instead of computing them). Configuration and all numbers:
<code>summary.json</code>.</p>{_runs_table(runs)}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path


def write_outputs(cmp: Comparison, out: Path, total_seconds: float, extra: dict | None = None) -> tuple[Path, dict]:
    """report.html and its figures, summary.json and comparison.json in ``out``. The timings of earlier runs of the
    same patient, quality and population scale in ``out`` are kept beside this run's (a warm rerun does not
    overwrite the cold run's timings). ``extra``: the caller's keys, first in the summary (the clinic's pain
    map). Returns the report's path and the summary."""
    out.mkdir(parents=True, exist_ok=True)
    this = {"date_utc": cmp.provenance.get("date_utc"), "commit": cmp.provenance.get("commit"),
            "total_seconds": round(total_seconds, 1), "seconds": cmp.seconds}
    runs = [*_earlier_runs(out / "summary.json", cmp), this]
    report = write_report(cmp, out, runs)
    summary = {**(extra or {}), **cmp.summary(), "total_seconds": this["total_seconds"], "runs": runs,
               "report": str(report)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "comparison.json").write_text(cmp.model_dump_json(indent=1))
    return report, summary


def _earlier_runs(path: Path, cmp: Comparison) -> list[dict]:
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    same = isinstance(old, dict) and all(old.get(k) == v for k, v in (
        ("patient_hash", cmp.patient_hash), ("quality", cmp.quality), ("population_scale", cmp.population_scale)))
    runs = old.get("runs") if same else None
    return [r for r in runs if isinstance(r, dict) and isinstance(r.get("seconds"), dict)] if isinstance(runs, list) \
        else []


def _r(v):
    return "n/a" if v is None else round(v, 3)


def _interval(ci) -> str:
    return "n/a" if ci is None else f"{ci[0]:.3g}-{ci[1]:.3g}"


def _with_interval(summary: dict, key: str) -> str:
    """The number, with its sampling interval where it has one."""
    ci = summary["intervals"].get(key)
    return display_value(summary[key]) if ci is None else f"{display_value(summary[key])} [{_interval(ci)}]"
