"""The device pulse as the neurons stimulus: charge-balanced biphasic, passive or active recharge."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from drgsim.devices import ContactState as C
from drgsim.devices import LeadSettings, Recharge, get_ipg_model
from drgsim.devices.waveform import Waveform, contact_weights, device_waveform

DRG, SCS = get_ipg_model("drg_ipg"), get_ipg_model("scs_ipg")


def settings(recharge=Recharge.PASSIVE, pw=300, f=20, n=4):
    return LeadSettings(contacts=[C.CATHODE, C.ANODE] + [C.OFF] * (n - 2), amplitude_ma=1, pulse_width_us=pw,
                        frequency_hz=f, recharge=recharge, enabled=True)


@pytest.mark.parametrize("model,s", [(DRG, settings()), (DRG, settings(pw=720, f=100)),
                                     (SCS, settings(Recharge.ACTIVE, pw=500, f=60, n=8))])
def test_each_pulse_is_charge_balanced(model, s):
    w = device_waveform(s, model, impedance_ohm=1000, n_pulses=3)
    assert isinstance(w, Waveform) and w.polarity == "cathodic"
    assert w.shape == ("biphasic" if s.recharge == Recharge.ACTIVE else "asymmetric")
    period_ms = 1e3 / s.frequency_hz
    dt = 0.001
    x = w.sample(dt, int(round(3 * period_ms / dt)))
    first = x[x < 0].sum() * dt
    assert first == pytest.approx(-3 * s.pulse_width_us * 1e-3, rel=1e-2)  # leading phases: cathodic
    assert x.sum() * dt == pytest.approx(0, abs=1e-3 * abs(first))  # net charge zero


def test_passive_recharge_time_constant_is_rc():
    w = device_waveform(settings(), DRG, impedance_ohm=1000)
    assert w.recharge_tau_us == pytest.approx(1000 * DRG.coupling_capacitance_uf)
    assert w.pulse_duration_us() <= 1e6 / 20


def test_contact_weights_sink_on_cathodes():
    wts = contact_weights([C.ANODE, C.CATHODE, C.ANODE, C.OFF])
    np.testing.assert_allclose(wts, [-0.5, 1, -0.5, 0])
    assert wts.sum() == pytest.approx(0)
    with pytest.raises(ValueError, match="one \\+ and one -"):
        contact_weights([C.CATHODE, C.OFF, C.OFF, C.OFF])


def test_monophasic_cathodic_is_negative_for_its_width():
    w = Waveform(pulse_width_us=100).sample(0.01, 20)
    np.testing.assert_array_equal(w, [-1.0] * 10 + [0.0] * 10)
    assert np.all(Waveform(pulse_width_us=100, polarity="anodic").sample(0.01, 20) == -w)


@given(pw=st.sampled_from([20, 60, 100, 300]), gap=st.sampled_from([0, 20, 50]),
       shape=st.sampled_from(["biphasic", "asymmetric"]))
def test_charge_balanced_shapes_carry_no_net_charge(pw, gap, shape):
    wf = Waveform(shape=shape, pulse_width_us=pw, interphase_gap_us=gap, recharge_tau_us=200,
                  recharge_window_us=2000)
    dt = 0.0005
    w = wf.sample(dt, int(round(wf.duration_ms() / dt)) + 10)
    first_phase = -pw * 1e-3  # charge of the leading phase (amplitude x ms)
    assert w[: int(round(pw * 1e-3 / dt))].sum() * dt == pytest.approx(first_phase, rel=1e-6)
    assert abs(w.sum() * dt) < 0.02 * abs(first_phase)


def test_train_repeats_at_the_frequency():
    wf = Waveform(pulse_width_us=100, frequency_hz=100, n_pulses=3)
    w = wf.sample(0.01, 2100)
    starts = np.flatnonzero(np.diff(np.concatenate([[0.0], w])) < 0)
    np.testing.assert_array_equal(starts, [0, 1000, 2000])


def test_bad_waveforms_name_the_field():
    with pytest.raises(ValidationError, match="pulse_width_us"):
        Waveform(pulse_width_us=-5)
    with pytest.raises(ValidationError, match="frequency_hz"):
        Waveform(pulse_width_us=1000, frequency_hz=2000, n_pulses=2)
