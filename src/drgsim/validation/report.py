"""The validation report: one HTML page a reviewer can attach to a paper that uses drgsim.

Laid out after ASME V&V 40 (2018), "Assessing credibility of computational modeling through
verification and validation: application to medical devices": the question and context of use,
code verification, calculation verification, validation, each case with its source, reference,
value, error, tolerance and verdict, then what differs from the references and why, the methods,
the references and the environment that produced the numbers.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from drgsim.references import cite
from drgsim.validation.cases import ValidationCase
from drgsim.validation.run import ValidationReport

SECTIONS = {
    "code verification": "Does the software solve its equations correctly? drgsim's cable solver against NEURON "
                         "(the reference simulator, with fibres built by PyFibers) and its field solver against "
                         "analytic solutions.",
    "calculation verification": "Are the numerical settings fine enough? The same model at a smaller time step.",
    "validation": "Does the model describe the real system well enough for its use? Published models and "
                  "measurements of DRG neurons under stimulation.",
}
DIFFERENCES = [
    "Farooqui et al. 2024 use Gaines et al. 2018's sensory node kinetics (with fast K and active internodes); drgsim "
    "uses MRG 2002's node in every myelinated compartment. Their FEM (contact size, epineurium, bath, the position "
    "of the bipole's return) is not published in their data; drgsim's assumptions are listed in "
    "drgsim.fields.anatomy_models.EpineuralParams. Their return's effect is not visible in their initiation sites, "
    "so drgsim's return is distant. Their A-alpha cells reach 20 um; drgsim's MRG geometry stops at 16 um, so "
    "larger draws are redrawn.",
    "Graham et al. 2019 computed thresholds in a human L5 DRG FEM model; drgsim's check uses a point source 1 mm "
    "from the T-junction with bounds at clinical amplitudes (1 mA for A-beta, 4 mA for C).",
    "quick: every fourth NEURON grid case, one Sundt case, every third firing window, 500 Farooqui neurons on a "
    "first-order mesh; the full run takes every case, 2,000 neurons and second-order elements.",
]
REFERENCES = cite("asme2018", "hines1997", "pyfibers", "musselman2021", "mcintyre2002", "sundt2015", "amir2003",
                  "graham2019", "graham2021", "farooqui2024", "plonsey2007")


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "none below the ceiling" if x > 0 else "-inf"
    return f"{x:.4g}"


def _tolerance(c: ValidationCase) -> str:
    return {"relative": f"+-{100 * c.tolerance:g}%", "absolute": f"+-{c.tolerance:g} {c.unit}",
            "at_least": f">= {_num(c.reference)}", "at_most": f"<= {_num(c.reference)}"}[c.tolerance_kind]


def _rows(cases: list[ValidationCase]) -> str:
    out = []
    for c in cases:
        err = "-" if c.rel_error is None else f"{100 * c.rel_error:+.2f}%"
        verdict = '<b style="color:#2a7d2a">pass</b>' if c.passed else '<b style="color:#c0392b">FAIL</b>'
        out.append("<tr>" + "".join(f"<td>{x}</td>" for x in (
            html.escape(c.name), html.escape(c.source), _num(c.reference), _num(c.value), html.escape(c.unit), err,
            html.escape(_tolerance(c)), verdict, html.escape(c.note))) + "</tr>")
    return "\n".join(out)


def write_html(report: ValidationReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ("<tr><th>case</th><th>source</th><th>reference</th><th>drgsim</th><th>unit</th><th>rel. error</th>"
            "<th>tolerance</th><th>verdict</th><th>note</th></tr>")
    sections = []
    for cat, text in SECTIONS.items():
        cases = [c for c in report.cases if c.category == cat]
        ok = sum(c.passed for c in cases)
        sections.append(f"<h2>{cat.capitalize()} ({ok} of {len(cases)} pass)</h2><p>{html.escape(text)}</p>"
                        f"<table>{head}{_rows(cases)}</table>")
    env = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in report.environment.items())
    f = report.farooqui
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>drgsim validation</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse;font-size:0.85em;margin-bottom:1.5em}}td,th{{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top}}th{{background:#f0f0f0}}</style></head><body>
<h1>drgsim validation report{' (quick)' if report.quick else ''}</h1>
<p><b>{report.passed} of {len(report.cases)} cases pass</b> ({report.failed} fail) in {report.seconds:.0f} s.
Research use only; drgsim is not a medical device.</p>
<h2>Question and context of use</h2>
<p>drgsim predicts which neurons of a dorsal root ganglion (and which dorsal-column and dorsal-root fibres under
spinal cord stimulation) a stimulation program activates, from finite-element fields and cable models of the
neurons. The quantities of interest are activation thresholds, where spikes start and whether they reach the cord,
for the device's pulses (20-1000 us, up to the device's maximum amplitude). Each case below compares one such
quantity with an independent reference.</p>
{''.join(sections)}
<h2>The Farooqui 2024 scenario</h2><p>{f.n_activated} of {f.n_neurons} neurons activated below 420 uA;
initiation sites (counts) {html.escape(str(f.initiation_counts))}; decisive spikes near a truncated end:
{f.cut_end_initiations}; {f.seconds:.0f} s.</p>
<h2>What differs from the references</h2><ul>{''.join(f'<li>{html.escape(d)}</li>' for d in DIFFERENCES)}</ul>
<h2>Methods</h2><p>Thresholds come from drgsim's public search with its defaults (no bracket is ever handed in):
a start where the cell's linear response is far below any spike, steps up of 1.5x (1.1x once a local spike has
appeared without reaching the detector), bisection to the stated tolerance, and the upper edge of the first
firing window (block). NEURON's own values were found by bracketed searches (strength-duration grid) or a fine
amplitude grid (windows) by the scripts in the repository's tests/reference. The cable solver is backward Euler
at 2.5 us unless a case says otherwise (NEURON's fixed-step scheme); fields are NGSolve finite elements.</p>
<h2>References</h2><ol>{''.join(f'<li>{html.escape(r)}</li>' for r in REFERENCES)}</ol>
<h2>Environment</h2><table>{env}</table></body></html>"""
    path.write_text(page)
    return path
