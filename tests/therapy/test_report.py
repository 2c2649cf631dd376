"""The DRG-versus-SCS report tells the whole truth: each claim from the right inputs, every posture shown,
every term defined, no Python reprs, and what the numbers came from (issue 19)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from drgsim.anatomy.posture import Posture
from drgsim.provenance import NOTICE
from drgsim.therapy.outcomes import ABETA_KINDS, evaluate_posture
from drgsim.therapy.report import GLOSSARY, display_value, write_outputs
from drgsim.therapy.systems import system_spec

POSTURES = [p.value for p in Posture]


class _Page(HTMLParser):
    """The page's visible text, its tables' rows and its glossary terms."""

    def __init__(self):
        super().__init__()
        self.text, self.rows, self.terms, self.measures = [], [], [], []
        self._stack, self._row, self._cell, self._table = [], None, None, ""

    def handle_starttag(self, tag, attrs):
        self._stack.append(tag)
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        while self._stack and self._stack.pop() != tag:
            pass
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)
            if self._table == "measures" and self._row and self._row[0] != "measure":
                self.measures.append(self._row[0])
            self._row = None

    def handle_data(self, data):
        if "style" in self._stack or "title" in self._stack:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._stack and self._stack[-1] == "dt":
            self.terms.append(data.strip())


@pytest.fixture(scope="module")
def written(comparison, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    write_outputs(comparison, out, total_seconds=100.0)
    report, summary = write_outputs(comparison, out, total_seconds=2.0)  # a warm rerun into the same folder
    page = _Page()
    page.feed(report.read_text())
    return page, summary, out


def test_each_claim_compares_each_system_on_its_own_device(comparison):
    """Longer battery life: each IPG's own cell (the SCS IPG recharges: its burden is stated), with the
    like-for-like reading on the DRG IPG's primary cell beside; the claims' numbers are the outcomes'."""
    posture = comparison.optimizer.posture
    claims = {c.claim: c for c in comparison.claims}
    battery = claims["longer battery life"]
    d, s = comparison.drg, comparison.scs
    assert (battery.drg, battery.scs) == (d.outcome.posture(posture).battery_years,
                                          s.outcome.posture(posture).battery_years)
    assert battery.supported == (battery.drg > battery.scs)
    assert f"recharged every {s.recharge_interval_days:g} days" in battery.statement
    assert "DRG: primary cell" in battery.statement
    assert f"SCS {s.primary_cell_years:.3g} years" in battery.statement
    for claim, key in (("targeted coverage", "off_target_pct"), ("lower energy", "average_current_ua"),
                       ("less paresthesia", "paresthesia_area_ratio")):
        assert (claims[claim].drg, claims[claim].scs) == (getattr(d.outcome.posture(posture), key),
                                                          getattr(s.outcome.posture(posture), key))


def test_every_posture_shows_coverage_and_the_amplitude_it_needs(written, comparison, drg_model, scs_model):
    page, summary, _ = written
    rows = {r[0]: r[1:] for r in page.rows if r}
    target = comparison.optimizer.target_coverage_pct
    for p in POSTURES:
        cov = rows[f"pain coverage at the programmed amplitude, {p} (%)"]
        assert cov == [f"{r.outcome.posture(p).pain_coverage_pct:g}" for r in (comparison.drg, comparison.scs)]
        assert len(rows[f"amplitude needed for {target:g}% pain coverage, {p} (mA)"]) == 2
    for result, model in ((comparison.drg, drg_model), (comparison.scs, scs_model)):
        needed = {a.posture.value: a for a in result.amplitude_needed}
        assert set(needed) == set(POSTURES) and set(summary[result.system.value]["amplitude_needed"]) == set(POSTURES)
        grid = model.implant.ipg().amplitude_ma
        programmed = {k: s.amplitude_ma for k, s in result.optimization.program.enabled_leads().items()}
        home = comparison.optimizer.posture
        reached = needed[home.value]  # within the program's amplitudes exactly when the program reaches the target
        within = reached.amplitudes_ma is not None and all(reached.amplitudes_ma[k] <= programmed[k]
                                                           for k in programmed)
        assert within == (result.outcome.posture(home).pain_coverage_pct >= target)
        for p, a in needed.items():
            if a.amplitudes_ma is None:
                continue
            assert evaluate_posture(model, _at(result, a.amplitudes_ma), p).pain_coverage_pct >= target
            lower = {k: grid.step_from(v, -1) for k, v in a.amplitudes_ma.items()}  # one step less on every lead
            assert evaluate_posture(model, _at(result, lower), p).pain_coverage_pct < target


def _at(result, amplitudes_ma):
    program = result.optimization.program.model_copy(deep=True)
    for k, amp in amplitudes_ma.items():
        program.leads[k].amplitude_ma = amp
    return program


def test_every_term_is_defined_and_no_python_value_leaks(written):
    page, _, _ = written
    text = " ".join(page.text)
    for bad in ("None", "True", "False", "{'", "': "):
        assert bad not in text, bad
    assert set(page.terms) == set(GLOSSARY)
    assert page.measures
    for m in page.measures:
        assert any(m.startswith(t) for t in GLOSSARY), m
    assert re.search(r"The (\d+) claims", text).group(1) == "5"
    assert "Not simulated in this run: drgsim compare --day FILE" in " ".join(text.split())


def test_the_page_says_what_it_came_from_and_what_it_is_not(written, comparison):
    page, summary, out = written
    text = " ".join(" ".join(page.text).split())
    assert NOTICE in text
    p = comparison.provenance
    for key in ("commit", "date_utc", "python"):
        assert p[key] and p[key] in text
    assert all(v in text for v in p["dependencies"].values())
    assert "Methods" in text and "References" in text and "doi:10.1097/j.pain.0000000000000814" in text
    assert summary["provenance"] == p and json.loads((out / "summary.json").read_text())["provenance"] == p


def test_a_warm_rerun_keeps_the_cold_runs_timings(written):
    _, summary, out = written
    runs = json.loads((out / "summary.json").read_text())["runs"]
    assert [r["total_seconds"] for r in runs] == [100.0, 2.0] == [r["total_seconds"] for r in summary["runs"]]


def test_the_window_is_shown_in_every_posture_with_the_cells_that_set_it(written, comparison):
    """Issue 19: the therapeutic window and its cause, for both systems. SCS's discomfort cells are its dorsal-root
    fibres: at quick quality they fire within the device's range, so SCS has a window in every posture."""
    page, summary, _ = written
    rows = {r[0]: r[1:] for r in page.rows if r}
    for r in (comparison.drg, comparison.scs):
        assert set(summary[r.system.value]["therapeutic_window"]) == set(POSTURES)
    for p in POSTURES:
        outs = [r.outcome.posture(p) for r in (comparison.drg, comparison.scs)]
        assert rows[f"therapeutic window, {p}"] == [display_value(o.therapeutic_window) for o in outs]
        assert rows[f"discomfort threshold, {p} (mA)"] == [display_value(_round(o.discomfort_threshold_ma))
                                                            for o in outs]
        for system, o, cell_text in zip(("drg", "scs"), outs, rows[f"cells that set the therapeutic window, {p}"]):
            lead = next(x for x in o.leads if x.lead == o.window_lead)
            assert o.therapeutic_window == round(lead.discomfort_threshold_ma / lead.perception_threshold_ma, 3)
            for cell, thr, kinds in ((lead.perception_cell, lead.perception_threshold_ma, ABETA_KINDS),
                                     (lead.discomfort_cell, lead.discomfort_threshold_ma,
                                      system_spec(system).discomfort_kinds)):
                assert cell.threshold_ma == thr and cell.kind in kinds
                assert cell.describe() in cell_text
        assert outs[1].leads[0].discomfort_cell.kind == "dorsal_root"


def _round(v):
    return None if v is None else round(v, 3)


def test_transmission_against_frequency_and_scs_by_construction(written, comparison):
    """Issue 15: the report sweeps the DRG program's transmission over frequency (a representative C neuron at the
    program's amplitude ratio: the caption says what is simulated) from the content-hash cache, and states SCS's
    prediction, 100% by construction, not n/a."""
    import time

    from drgsim.therapy.transmission import SWEEP_HZ, program_sweep

    page, summary, out = written
    text = " ".join(" ".join(page.text).split())
    rows = {r[0]: r[1:] for r in page.rows if r}
    assert rows["nociceptive transmission (%)"] == ["100", "100"]
    assert "100% at every frequency, by construction" in text
    sweep = comparison.transmission_sweep
    ratio = max(x.c_ratio_max for x in comparison.drg.nociceptive_transmission.leads)
    assert sweep.config.amplitude_ratio == ratio and f"driven at {ratio:.3g} x its threshold" in text
    assert [p.frequency_hz for p in sweep.points] == list(SWEEP_HZ)
    assert summary["transmission_sweep"]["points"] == [p.model_dump(mode="json") for p in sweep.points]
    assert (out / "transmission.png").stat().st_size > 0
    t0 = time.perf_counter()
    again = program_sweep(ratio, sweep.config.pulse_width_us, sweep.config.duration_s, sweep.config.ongoing_hz)
    assert again == sweep and time.perf_counter() - t0 < 1.0  # read from the cache, not simulated again


def test_a_day_of_postures_open_and_closed_loop(comparison, drg_day, tmp_path):
    """With a day (``compare(..., day=)``): the DRG lead's day from the physics (``drg_day``); the SCS lead's from
    synthetic growth curves (the SCS physics runs in test_closedloop's CLI test): the claim, the table's cells, the
    figure and the summary's keys."""
    from drgsim.therapy.closedloop import Day, run_day
    from drgsim.therapy.compare import claims
    from tests.therapy.conftest import TWO_POSTURES
    from tests.therapy.test_closedloop import SCS, SCS_IMPLANT, scs_program

    scs_day = run_day(Day.model_validate(TWO_POSTURES), SCS, scs_program(4.0), "scs_ipg", SCS_IMPLANT,
                      programming_posture="supine")
    drg = comparison.drg.model_copy(update={"closed_loop": drg_day.outcome})
    scs = comparison.scs.model_copy(update={"closed_loop": scs_day.outcome})
    cmp = comparison.model_copy(update={"drg": drg, "scs": scs,
                                        "claims": claims(drg, scs, comparison.optimizer.posture)})
    report, summary = write_outputs(cmp, tmp_path, total_seconds=1.0)
    page = _Page()
    page.feed(report.read_text())
    text = " ".join(" ".join(page.text).split())
    assert re.search(r"The (\d+) claims", text).group(1) == "6"
    claim = next(c for c in cmp.claims if c.claim == "holds its dose through a day")
    assert (claim.drg, claim.scs) == (drg_day.outcome.open_loop.time_in_window_pct,
                                      scs_day.outcome.open_loop.time_in_window_pct)
    rows = {r[0]: r[1:] for r in page.rows if r}
    for label, key in (("time in the therapeutic window (%)", "time_in_window_pct"),
                       ("overstimulation events", "overstimulation_events"), ("device adjustments", "adjustments")):
        assert rows[label] == [display_value(getattr(getattr(r.closed_loop, loop), key)) for r in (drg, scs)
                               for loop in ("open_loop", "closed_loop")]
    for m in page.measures:
        assert any(m.startswith(t) for t in GLOSSARY), m
    assert (tmp_path / "closed_loop.png").read_bytes()[:4] == b"\x89PNG"
    assert summary["drg"]["closed_loop"]["closed_loop"]["time_in_window_pct"] == \
        drg_day.outcome.closed_loop.time_in_window_pct
