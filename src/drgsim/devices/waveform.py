"""Pulse waveforms, and the device's charge-balanced pulse as the stimulus of ``drgsim.neurons``.

``Waveform`` is one pulse (or a train) in units of the stimulus amplitude, sampled on a time grid:
each sample is the waveform's value at the middle of its step, t_k + dt/2, with t = 0 at the start
of the first pulse. Cathodic means a negative electrode current (negative potentials near the
contact).

- Passive recharge ([unverified] the DRG waveform: charge-balanced, passive recovery): a rectangular cathodic phase,
then
  the output coupling capacitor discharges through the tissue with time constant
  tau = Z * C (ohm * uF = us), carrying back exactly the first phase's charge: the neurons
  ``asymmetric`` shape.
- Active recharge: an equal and opposite driven phase: the neurons ``biphasic`` shape.

``contact_weights`` turns a contact configuration into the weight vector over contacts that
multiplies the per-contact unit-current field solutions (superposition: the volume conductor is linear). With a
cathodic waveform (leading phase -1), weight +1/n on each cathode and -1/n on each anode give
each contact its signed current: cathodes sink current in the leading phase.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim.devices.hardware import IPGModel
from drgsim.devices.program import ContactState, LeadSettings, Recharge

_MAX_US = 100_000.0  # the Waveform's bound on recharge tau and window


class Shape(StrEnum):
    MONOPHASIC = "monophasic"
    BIPHASIC = "biphasic"  # symmetric, actively balanced
    ASYMMETRIC = "asymmetric"  # charge-balanced, passive recharge


class Polarity(StrEnum):
    CATHODIC = "cathodic"
    ANODIC = "anodic"


class Waveform(BaseModel):
    """One pulse (or a train of them) in units of the stimulus amplitude.

    ``asymmetric``: a rectangular first phase, then a passive recharge of opposite sign that decays
    exponentially with ``recharge_tau_us`` (the coupling capacitor discharging through the tissue)
    and carries exactly the first phase's charge within ``recharge_window_us``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: Shape = Shape.MONOPHASIC
    polarity: Polarity = Polarity.CATHODIC
    pulse_width_us: float = Field(100.0, gt=0, le=10_000)
    interphase_gap_us: float = Field(0.0, ge=0, le=10_000)
    recharge_tau_us: float = Field(400.0, gt=0, le=100_000)
    recharge_window_us: float = Field(3000.0, gt=0, le=100_000)
    frequency_hz: float | None = Field(None, gt=0, le=100_000)
    n_pulses: int = Field(1, ge=1, le=100_000)

    @model_validator(mode="after")
    def _train_needs_frequency(self):
        if self.n_pulses > 1 and self.frequency_hz is None:
            raise ValueError("n_pulses > 1 needs frequency_hz")
        if self.frequency_hz is not None and self.n_pulses > 1 and self.pulse_duration_us() > 1e6 / self.frequency_hz:
            raise ValueError(
                f"frequency_hz={self.frequency_hz}: period {1e6 / self.frequency_hz:.1f} us is shorter than "
                f"one pulse ({self.pulse_duration_us():.1f} us); allowed frequency <= "
                f"{1e6 / self.pulse_duration_us():.1f} Hz")
        return self

    def pulse_duration_us(self) -> float:
        """Time from the start of one pulse to the end of its last phase."""
        pw, gap = self.pulse_width_us, self.interphase_gap_us
        if self.shape == Shape.MONOPHASIC:
            return pw
        if self.shape == Shape.BIPHASIC:
            return 2 * pw + gap
        return pw + gap + self.recharge_window_us

    def full_amplitude_end_ms(self) -> float:
        """End of the last full-amplitude phase: the train's end without the last passive recharge."""
        pw, gap = self.pulse_width_us, self.interphase_gap_us
        active = {Shape.MONOPHASIC: pw, Shape.BIPHASIC: 2 * pw + gap, Shape.ASYMMETRIC: pw}[self.shape]
        period_us = 1e6 / self.frequency_hz if self.frequency_hz else 0.0
        return ((self.n_pulses - 1) * period_us + active) * 1e-3

    def duration_ms(self) -> float:
        period_us = 1e6 / self.frequency_hz if self.frequency_hz else 0.0
        return ((self.n_pulses - 1) * period_us + self.pulse_duration_us()) * 1e-3

    def _pulse(self, t_us: np.ndarray) -> np.ndarray:
        """One pulse, leading phase negative (cathodic) before the polarity sign is applied."""
        pw, gap = self.pulse_width_us, self.interphase_gap_us
        w = np.where((t_us >= 0) & (t_us < pw), -1.0, 0.0)
        t2 = t_us - (pw + gap)
        if self.shape == Shape.BIPHASIC:
            w = w + np.where((t2 >= 0) & (t2 < pw), 1.0, 0.0)
        elif self.shape == Shape.ASYMMETRIC:
            tau, win = self.recharge_tau_us, self.recharge_window_us
            # Normalized so that the recharge integrates to pw over [0, win).
            scale = pw / (tau * (1.0 - np.exp(-win / tau)))
            w = w + np.where((t2 >= 0) & (t2 < win), scale * np.exp(-np.clip(t2, 0, None) / tau), 0.0)
        return w

    def sample(self, dt_ms: float, n_steps: int) -> np.ndarray:
        """The waveform at the middle of each of ``n_steps`` steps of ``dt_ms``."""
        dt_us = dt_ms * 1e3
        w = np.zeros(n_steps)
        period_us = 1e6 / self.frequency_hz if self.frequency_hz else 0.0
        for k in range(self.n_pulses):  # each pulse only over the steps it spans (long trains stay cheap)
            start = k * period_us
            lo = max(0, int(np.floor(start / dt_us - 0.5)))
            hi = min(n_steps, int(np.ceil((start + self.pulse_duration_us()) / dt_us + 0.5)))
            if lo >= n_steps:
                break
            w[lo:hi] += self._pulse((np.arange(lo, hi) + 0.5) * dt_us - start)
        return w if self.polarity == Polarity.CATHODIC else -w


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
