"""Stimulus: unit-current extracellular potentials and pulse waveforms sampled on the time grid.

Potentials are linear in the stimulating current, so a cell sees ``amplitude_ma * waveform[k] *
v_unit`` during time step k, where ``v_unit`` (mV per mA) comes from a point source here or from
the finite-element field solution of ``drgsim.fields``. Each waveform sample is the waveform's
value at the middle of its step, t_k + dt/2, with t = 0 at the start of the first pulse.
Cathodic means a negative electrode current, i.e. negative potentials near the contact.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


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
        t_us = (np.arange(n_steps) + 0.5) * dt_ms * 1e3
        w = np.zeros(n_steps)
        period_us = 1e6 / self.frequency_hz if self.frequency_hz else 0.0
        for k in range(self.n_pulses):
            w += self._pulse(t_us - k * period_us)
        return w if self.polarity == Polarity.CATHODIC else -w


def point_source_potentials(points_mm: np.ndarray, source_mm, resistivity_ohm_cm: float) -> np.ndarray:
    """Potential (mV) of a 1 mA point source in an infinite homogeneous medium: V = I / (4 pi sigma r)."""
    sigma_s_per_m = 100.0 / resistivity_ohm_cm
    r_mm = np.linalg.norm(np.asarray(points_mm, dtype=float) - np.asarray(source_mm, dtype=float), axis=-1)
    if np.any(r_mm <= 0):
        raise ValueError("a compartment lies exactly on the point source (distance 0 mm)")
    return 1e3 / (4.0 * np.pi * sigma_s_per_m * r_mm)
