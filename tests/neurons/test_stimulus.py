"""Waveforms and point-source potentials."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from drgsim.neurons.stimulus import Waveform, point_source_potentials


def test_point_source_is_inverse_distance():
    v = point_source_potentials(np.array([[1.0, 0, 0], [2.0, 0, 0]]), (0, 0, 0), 500.0)
    sigma = 100.0 / 500.0
    assert v[0] == pytest.approx(1e3 / (4 * np.pi * sigma * 1.0))
    assert v[0] / v[1] == pytest.approx(2.0)


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
