"""The DRG-versus-SCS report: an HTML page with PNG figures, and the figures themselves.

Figures (matplotlib Agg, no display): body maps of the pain and of each system's paresthesia (pain
regions outlined), recruitment curves of each programmed lead, perception threshold and coverage
in every posture, and energy (average current, battery years).
"""

from __future__ import annotations

import html
from pathlib import Path

from drgsim.anatomy.bodymap import draw_body_map, draw_region_values
from drgsim.anatomy.posture import Posture
from drgsim.devices.program import contacts_label
from drgsim.therapy.compare import Comparison, SystemResult

KIND_LABELS = {"abeta": "A-beta", "adelta": "A-delta", "c": "C", "motor": "motor axon",
               "dorsal_column": "dorsal column", "dorsal_root": "dorsal root"}
COLOURS = {"drg": "#1f77b4", "scs": "#d62728"}


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
    results = [cmp.drg, cmp.scs]
    fig = _figure((10, 4))
    axes = fig.subplots(1, 2)
    for ax, r in zip(axes, results):
        for curve in r.recruitment:
            for kind, shares in curve.shares.items():
                ax.plot(curve.amplitudes_ma, [100 * v for v in shares],
                        label=f"lead {curve.lead} {curve.level} {curve.contacts}: {KIND_LABELS.get(kind, kind)}")
            ax.axvline(curve.programmed_ma, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{r.system.value.upper()} recruitment ({r.optimization.config.posture.value})")
        ax.set_xlabel("amplitude (mA)")
        ax.set_ylabel("cells activated (%)")
        ax.legend(fontsize=6)
    fig.savefig(path, dpi=130)
    return path


def posture_figure(cmp: Comparison, path: Path) -> Path:
    import numpy as np

    fig = _figure((10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    postures = [p.value for p in Posture]
    x = np.arange(len(postures))
    for i, r in enumerate((cmp.drg, cmp.scs)):
        name = r.system.value
        pt = [r.outcome.perception_threshold_ma.get(p) for p in postures]
        base = next((v for v in pt if v), None)
        rel = [100 * v / base if v and base else 0.0 for v in pt]
        ax1.bar(x + (i - 0.5) * 0.38, rel, 0.38, color=COLOURS[name],
                label=f"{name.upper()} (spread {r.outcome.posture_spread_pct}%)")
        cov = [r.outcome.posture(p).pain_coverage_pct for p in postures]
        ax2.bar(x + (i - 0.5) * 0.38, cov, 0.38, color=COLOURS[name], label=name.upper())
    ax1.set_title("perception threshold, % of supine")
    ax2.set_title("pain coverage at the programmed amplitude (%)")
    for ax in (ax1, ax2):
        ax.set_xticks(x, postures)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=130)
    return path


def energy_figure(cmp: Comparison, path: Path) -> Path:
    fig = _figure((10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    names = ["DRG", "SCS"]
    colours = [COLOURS["drg"], COLOURS["scs"]]
    results = (cmp.drg, cmp.scs)
    current = [r.outcome.posture(r.optimization.config.posture).average_current_ua for r in results]
    years = [r.primary_cell_years for r in results]
    for ax, values, label in ((ax1, current, "average stimulation current (uA)"),
                              (ax2, years, "years on the DRG IPG's primary cell")):
        ax.bar(names, values, color=colours)
        ax.set_ylabel(label)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=9)
    fig.savefig(path, dpi=130)
    return path


def _table(rows: list[list], head: list[str]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _program_rows(r: SystemResult) -> list[list]:
    rows = []
    for k, s in sorted(r.optimization.program.leads.items()):
        lead = r.implant.leads[k - 1]
        rows.append([f"{r.system.value.upper()} lead {k}", f"{lead.level.value} {lead.side.value}",
                     contacts_label(s.contacts) if s.enabled else "off",
                     f"{s.amplitude_ma:g}" if s.enabled else "-", f"{s.pulse_width_us:g}", f"{s.frequency_hz:g}"])
    return rows


def write_report(cmp: Comparison, out: Path) -> Path:
    """Write figures and report.html into ``out``; return the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    pain = {k for k, v in cmp.pain_map.nrs.items() if v > 0}
    figs = {
        "pain": draw_body_map(cmp.pain_map, out / "pain_map.png"),
        "drg": paresthesia_map(cmp.drg, pain, out / "paresthesia_drg.png"),
        "scs": paresthesia_map(cmp.scs, pain, out / "paresthesia_scs.png"),
        "recruitment": recruitment_figure(cmp, out / "recruitment.png"),
        "posture": posture_figure(cmp, out / "posture.png"),
        "energy": energy_figure(cmp, out / "energy.png"),
    }
    d, s = cmp.drg.summary(), cmp.scs.summary()
    metrics = [
        ("pain coverage (%)", "pain_coverage_pct"), ("off-target (% of paresthesia area)", "off_target_pct"),
        ("paresthesia area / pain area", "paresthesia_area_ratio"), ("C fibres activated", "c_fibers_activated"),
        ("A-delta activated", "adelta_activated"), ("motor activation", "motor_activated"),
        ("average current (uA)", "average_current_ua"), ("battery years (own IPG)", "battery_years"),
        ("years on the DRG primary cell", "primary_cell_years"), ("recharge interval (days)", "recharge_interval_days"),
        ("perception threshold spread across postures (%)", "posture_spread_pct")]
    rows = [[label, _with_interval(d, key), _with_interval(s, key)] for label, key in metrics]
    rows += [[f"perception threshold, {p.value} (mA)", _r(d["perception_threshold_ma"][p.value]),
              _r(s["perception_threshold_ma"][p.value])] for p in Posture]
    rows.append([f"perception threshold, {cmp.optimizer.posture.value}: 95% interval over the population sampling "
                 "(mA)", _interval(d["intervals"]["perception_threshold_ma"]),
                 _interval(s["intervals"]["perception_threshold_ma"])])
    claims = "".join(f"<li class='{'yes' if c.supported else 'no'}'><b>{html.escape(c.claim)}</b>: "
                     f"{html.escape(c.statement)}</li>" for c in cmp.claims)
    explain = "".join(f"<h3>{r.system.value.upper()}</h3><ul>" +
                      "".join(f"<li>{html.escape(x)}</li>" for x in r.optimization.explanation) + "</ul>"
                      for r in (cmp.drg, cmp.scs))
    img = lambda key, alt: f"<img src='{figs[key].name}' alt='{html.escape(alt)}'>"  # noqa: E731
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>drgsim: DRG versus SCS for {html.escape(cmp.patient_id)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;
margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}img{{max-width:100%}}
.maps img{{width:32%}}li.yes{{color:#185c18}}li.no{{color:#8a1c1c}}code{{font-size:85%}}</style></head><body>
<h1>DRG versus SCS: {html.escape(cmp.patient_id)}</h1>
<p>Patient hash <code>{cmp.patient_hash[:16]}</code>; quality <code>{html.escape(cmp.quality)}</code>; drgsim
{html.escape(cmp.drgsim_version)}. Both systems planned on the same virtual patient, programs optimized in the
{cmp.optimizer.posture.value} posture to cover at least {cmp.optimizer.target_coverage_pct:g}% of the pain map without
motor activation, then evaluated in every posture. Bracketed: the 95% bootstrap interval of a number over the
sampling of the modelled cells ({cmp.drg.intervals.n_resamples} redraws, {cmp.optimizer.posture.value}), the
uncertainty that the population sizes leave.</p>
<h2>The four claims, in numbers</h2><ul>{claims}</ul>
<h2>Programs</h2>{_table(_program_rows(cmp.drg) + _program_rows(cmp.scs),
                          ["lead", "target", "contacts", "amplitude (mA)", "pulse width (us)", "frequency (Hz)"])}
<h2>Outcomes</h2>{_table(rows, ["measure", "DRG", "SCS"])}
<h2>Pain and paresthesia</h2><div class="maps">{img("pain", "pain map")}{img("drg", "DRG paresthesia")}
{img("scs", "SCS paresthesia")}</div>
<h2>Recruitment</h2>{img("recruitment", "recruitment curves")}
<h2>Postures</h2>{img("posture", "posture spread")}
<h2>Energy and battery</h2>{img("energy", "energy")}
<h2>How the programs were chosen</h2>{explain}
<h2>Run</h2><p>Seconds per stage: {html.escape(str(cmp.seconds))}. Configuration and all numbers:
<code>summary.json</code>.</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path


def _r(v):
    return "n/a" if v is None else round(v, 3)


def _interval(ci) -> str:
    return "n/a" if ci is None else f"{ci[0]:.3g}-{ci[1]:.3g}"


def _with_interval(summary: dict, key: str) -> str:
    """The number, with its sampling interval where it has one."""
    ci = summary["intervals"].get(key)
    return str(summary[key]) if ci is None else f"{summary[key]} [{_interval(ci)}]"
