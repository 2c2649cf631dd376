"""The device's charge-balanced biphasic pulse expressed as the ``drgsim.neurons`` stimulus.

- Passive recharge ([unverified] the DRG waveform, devices.md): a rectangular cathodic phase, then
  the output coupling capacitor discharges through the tissue with time constant
  tau = Z * C (ohm * uF = us), carrying back exactly the first phase's charge: the neurons
  ``asymmetric`` shape.
- Active recharge: an equal and opposite driven phase: the neurons ``biphasic`` shape.

``contact_weights`` turns a contact configuration into the weight vector over contacts that
multiplies the per-contact unit-current field solutions (design.md: superposition). With a
cathodic waveform (leading phase -1), weight +1/n on each cathode and -1/n on each anode give
each contact its signed current: cathodes sink current in the leading phase.
"""

from __future__ import annotations

import numpy as np

from drgsim.devices.hardware import IPGModel
from drgsim.devices.program import ContactState, LeadSettings, Recharge
from drgsim.neurons.stimulus import Waveform  # the only drgsim.neurons import allowed here

_MAX_US = 100_000.0  # the neurons Waveform's bound on recharge tau and window


def contact_weights(contacts: list[ContactState]) -> np.ndarray:
    """+1/n_cathodes on cathodes, -1/n_anodes on anodes, 0 off (equal split [assumption])."""
    n_c = sum(c == ContactState.CATHODE for c in contacts)
    n_a = sum(c == ContactState.ANODE for c in contacts)
    if n_c == 0 or n_a == 0:
        raise ValueError(f"contacts {[c.value for c in contacts]}: a lead needs at least one + and one -")
    return np.array([1.0 / n_c if c == ContactState.CATHODE else -1.0 / n_a if c == ContactState.ANODE else 0.0
                     for c in contacts])


def device_waveform(settings: LeadSettings, model: IPGModel, impedance_ohm: float, n_pulses: int = 1) -> Waveform:
    """The pulse (train) this lead delivers, in units of its amplitude, for ``drgsim.neurons``."""
    pw, gap, f = settings.pulse_width_us, model.interphase_gap_us, settings.frequency_hz
    common = dict(polarity="cathodic", pulse_width_us=pw, interphase_gap_us=gap,
                  frequency_hz=f, n_pulses=n_pulses)
    if settings.recharge == Recharge.ACTIVE:
        return Waveform(shape="biphasic", **common)
    tau = min(impedance_ohm * model.coupling_capacitance_uf, _MAX_US)
    period = 1e6 / f
    # Recharge until the next pulse (the device keeps the recharge switch closed), at most 5 tau.
    window = min(5 * tau, period - pw - gap, _MAX_US)
    return Waveform(shape="asymmetric", recharge_tau_us=tau, recharge_window_us=window, **common)
