"""The device pulse as the neurons stimulus: charge-balanced biphasic, passive or active recharge."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.devices import ContactState as C
from drgsim.devices import LeadSettings, Recharge, get_ipg_model
from drgsim.devices.waveform import contact_weights, device_waveform
from drgsim.neurons.stimulus import Waveform

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
