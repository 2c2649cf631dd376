"""ECAPs on the default patient at the quick quality: superposition against a run of every cell, the artifact
model, growth curves against amplitude and posture (published trends), the contract of ``drgsim ecap``."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from typer.testing import CliRunner

from drgsim.cli import app
from drgsim.devices.program import ContactState
from drgsim.neurons.recording import evoked_uv
from drgsim.therapy.ecap import CELLS_REPRESENTED, RecordingChain, growth_curves, recording_contacts, sweeps

runner = CliRunner()
POSTURES = ("supine", "prone")


@pytest.fixture(scope="module")
def scs_program(comparison):  # the optimized program: its tables are in the session's cache
    return comparison.scs.optimization.program


@pytest.fixture(scope="module")
def scs_growth(scs_model, scs_program):
    return growth_curves(scs_model, scs_program, postures=POSTURES, n_amplitudes=8)


@pytest.fixture(scope="module")
def scs_sweep(scs_model, scs_program):
    by_posture, _, top = sweeps(scs_model, scs_program, postures=("supine",))
    return by_posture["supine"], top


def test_recruited_cells_signals_add_up_to_a_run_of_the_whole_population(scs_model, scs_program, scs_sweep):
    """The ECAP at one amplitude, summed from the recruited cells' evoked signals, against every cell of the
    population traced at that amplitude (the silent ones too: their local, sub-threshold responses are what the sum
    leaves out), each less its part linear in the amplitude: the silent cells add a near-constant offset (their slow
    sub-threshold relaxation, a few uV, which the amplifier's high-pass removes); beyond it the same waveform within
    2% and the same P2 - N1 within 2%."""
    sweep, top = scs_sweep
    amp = 0.8 * top
    lead = min(scs_program.enabled_leads())
    contacts = scs_program.leads[lead].contacts
    site = scs_model.site(lead, "supine")
    batch, v = site.configuration_potentials(contacts)
    rec, _ = recording_contacts(contacts, sweep.chain)
    lead_field = site.contact_potentials()[:, rec - 1]
    settings = scs_model.quality.settings.model_copy(update={"tstop_ms": sweep.chain.window_ms})
    kinds = site.kinds

    def cell_uv(c: int) -> np.ndarray:
        lo, hi = batch.offsets[c], batch.offsets[c + 1]
        _, uv = evoked_uv(batch, v, amp, sweep.table.waveform, lead_field[lo:hi], settings, cell=c)
        return uv * CELLS_REPRESENTED[kinds[c]] / (kinds == kinds[c]).sum()

    with ThreadPoolExecutor(max_workers=2) as pool:
        whole = sum(pool.map(cell_uv, range(batch.n_cells)))
    recording = sweep.record(amp)
    assert 3 <= recording.cells_fired < batch.n_cells / 2
    summed = np.asarray(recording.neural_uv)
    after = sweep.t_ms >= sweep.start_ms
    span = np.ptp(whole[after])
    assert span > 20  # tens of uV or more: a real ECAP
    offset = np.median(whole[after] - summed[after])
    assert abs(offset) < 0.3 * span
    assert np.abs(summed[after] + offset - whole[after]).max() < 0.02 * span
    assert np.ptp(summed[after]) == pytest.approx(span, rel=0.02)


def test_the_field_solution_is_reciprocal(scs_model):
    """Reciprocity in the finite-element model the recording rests on: the potential at contact j per mA from
    contact k equals that at k per mA from j (the mutual impedances are symmetric), in every posture solved."""
    for p in POSTURES:
        z = scs_model.site(1, p).impedance_matrix()
        assert np.abs(z - z.T).max() < 1e-6 * np.abs(z).max()
        assert np.all(z[~np.eye(len(z), dtype=bool)] > 0)  # mutual, through the tissue


def test_artifact_is_the_stimulus_through_the_transfer_impedance(scs_sweep):
    """The artifact: amplitude x waveform x transfer impedance, linear in amplitude, and for passive recharge the
    coupling capacitor's exponential decay after the pulse; the recorded sweep carries it only when asked."""
    sweep, top = scs_sweep
    a = sweep.record(top)
    assert a.artifact_uv[0] == pytest.approx(-top * sweep.transfer_ohm * 1e3, rel=1e-3)  # cathodic phase
    assert np.allclose(np.asarray(sweep.record(top / 2).artifact_uv), np.asarray(a.artifact_uv) / 2, atol=1e-3)
    wf = sweep.table.waveform
    tau_ms = wf.recharge_tau_us * 1e-3
    t = np.asarray(a.t_ms)
    i, j = (np.searchsorted(t, wf.pulse_width_us * 1e-3 + wf.interphase_gap_us * 1e-3 + x) + 2 for x in (0.1, 0.6))
    assert a.artifact_uv[j] / a.artifact_uv[i] == pytest.approx(np.exp(-(t[j] - t[i]) / tau_ms), rel=1e-3)
    assert a.recorded_uv != a.neural_uv  # filtered
    with_artifact = sweep.with_chain(sweep.chain.model_copy(update={"artifact": True}))
    assert np.ptp(with_artifact.record(top).recorded_uv) > 10 * np.ptp(a.recorded_uv)  # mV against uV
    with pytest.raises(ValueError, match="recording_contact and reference_contact"):
        sweep.with_chain(RecordingChain(recording_contact=1))


def test_growth_curves_rise_above_the_ecap_threshold(scs_growth):
    """Above the ECAP threshold the curve grows monotonically, below it nothing is detected; the ECAP threshold is
    where the first recruited A-beta fibres are detected: at or above the perception threshold, within twice it."""
    for name, c in scs_growth.postures.items():
        e = np.asarray(c.ecap_uv)
        a = np.asarray(c.amplitudes_ma)
        assert c.ecap_threshold_ma is not None, name
        below = a < c.ecap_threshold_ma
        assert np.all(e[below] < scs_growth.chain.detection_uv)
        above = e[~below]
        assert len(above) >= 3 and above[-1] > 3 * above[0]
        assert np.all(np.diff(above) >= 0), (name, above)
        assert c.perception_threshold_ma <= c.ecap_threshold_ma <= 2 * c.perception_threshold_ma
        assert c.growth_slope_uv_per_ma > 0


def test_published_ranges_latency_and_amplitude(scs_growth):
    """N1 latency 0.5-1.5 ms at the recording distance of an 8-contact lead, ECAPs of tens to hundreds of uV at
    twice the perception threshold (Parker et al. 2012; Pilitsis et al. 2021)."""
    assert scs_growth.recording_contact != scs_growth.contacts.index("-") + 1
    assert scs_growth.contacts[scs_growth.recording_contact - 1] == "0"
    for c in scs_growth.postures.values():
        assert 0.5 <= c.latency_ms <= 1.5
        assert 10 <= max(c.ecap_uv) <= 2000


def test_posture_moves_ecap_threshold_and_slope_as_csf_thickness(scs_model, scs_growth):
    """Published trend (Pilitsis et al. 2021; Mekhail et al. 2020): the posture with the thicker CSF layer over the
    cord has the higher ECAP threshold, as it has the higher perception threshold, and the shallower growth."""
    dcsf = {p: scs_model.site(1, p).spec.geometry.layout()["dcsf"] for p in POSTURES}
    thick, thin = sorted(POSTURES, key=dcsf.get, reverse=True)
    a, b = scs_growth.postures[thick], scs_growth.postures[thin]
    assert a.ecap_threshold_ma > b.ecap_threshold_ma
    assert a.perception_threshold_ma > b.perception_threshold_ma
    assert a.growth_slope_uv_per_ma < b.growth_slope_uv_per_ma


def test_drg_ecap_on_the_drg_leads_other_contact(drg_model, comparison):
    program = comparison.drg.optimization.program
    growth = growth_curves(drg_model, program, postures=("supine",), n_amplitudes=6)
    c = growth.postures["supine"]
    assert growth.system.value == "drg"
    assert program.leads[growth.lead].contacts[growth.recording_contact - 1] == ContactState.OFF
    assert c.ecap_threshold_ma is not None and max(c.ecap_uv) > 10
    assert 0.3 <= c.latency_ms <= 3.0


def test_bad_recording_contacts_name_the_field(scs_program):
    contacts = scs_program.leads[min(scs_program.enabled_leads())].contacts
    cathode = [i for i, c in enumerate(contacts, start=1) if c == ContactState.CATHODE][0]
    with pytest.raises(ValueError, match=f"recording_contact={cathode}: that contact stimulates"):
        recording_contacts(contacts, RecordingChain(recording_contact=cathode))
    with pytest.raises(ValueError, match=f"recording_contact=9; allowed: 1-{len(contacts)}"):
        recording_contacts(contacts, RecordingChain(recording_contact=9))
    rec, _ = recording_contacts(contacts, RecordingChain())
    with pytest.raises(ValueError, match=f"reference_contact={rec}: the recording contact itself"):
        recording_contacts(contacts, RecordingChain(reference_contact=rec))


def test_cli_ecap_contract(comparison):
    res = runner.invoke(app, ["ecap", "--patient", "default", "--system", "scs", "--quality", "quick", "--json",
                              "--n-amplitudes", "3", "--posture", "supine", "--posture", "prone"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out["postures"]) == {"supine", "prone"}
    for points in out["postures"].values():
        assert len(points) == 3 and all(set(p) == {"amplitude_ma", "ecap_uv"} for p in points)
        assert points[-1]["ecap_uv"] > 0
    assert out["curves"]["supine"]["perception_threshold_ma"] > 0 and out["recording_contact"] >= 1


@pytest.mark.parametrize("args,message", [
    (["--n-amplitudes", "1"], "--n-amplitudes=1: allowed: 2-200"),
    (["--recording-contact", "0"], "--recording-contact"),
    (["--quality", "fast"], "--quality='fast': allowed: standard, quick"),
])
def test_cli_ecap_bad_input_exits_2(args, message):
    res = runner.invoke(app, ["ecap", "--system", "scs", "--json", *args])
    assert res.exit_code == 2, res.output
    assert message in json.loads(res.stdout)["error"]
