"""Stepped ranges: the DRG amplitude grid (25 uA below 2 mA, 50 uA above) and its error messages."""

from __future__ import annotations

import pytest

from drgsim.devices import ParameterError, get_ipg_model

DRG = get_ipg_model("drg_ipg")


@pytest.mark.parametrize("value", [0.0, 0.025, 0.8, 1.975, 2.0, 2.05, 5.95, 6.0])
def test_on_grid_amplitudes_are_accepted(value):
    assert DRG.amplitude_ma.check(value, "amplitude_ma") == pytest.approx(value)


@pytest.mark.parametrize("value,nearest", [(0.81, [0.8, 0.825]), (2.025, [2.0, 2.05]), (2.07, [2.05, 2.1]),
                                           (7.0, [6.0]), (-0.1, [0.0])])
def test_off_grid_amplitudes_name_the_nearest_valid_values(value, nearest):
    with pytest.raises(ParameterError) as err:
        DRG.amplitude_ma.check(value, "amplitude_ma")
    assert err.value.nearest == pytest.approx(nearest)
    msg = str(err.value)
    assert msg.startswith(f"amplitude_ma={value:g} mA")
    assert "0-6 mA" in msg and "0.025 mA from 0 to 2 mA" in msg and "0.05 mA from 2 to 6 mA" in msg


def test_grid_sizes_follow_the_manual():
    assert len(DRG.amplitude_ma.grid) == 81 + 80  # 0..2 by 0.025, then 2.05..6 by 0.05
    assert len(DRG.pulse_width_us.grid) == 69  # 40..720 by 10
    assert len(DRG.frequency_hz.grid) == 49  # 4..100 by 2
    assert (DRG.default_amplitude_ma, DRG.default_pulse_width_us, DRG.default_frequency_hz) == (0, 40, 60)


def test_steps_cross_the_2_ma_boundary():
    amp = DRG.amplitude_ma
    assert amp.step_from(1.975, 1) == pytest.approx(2.0)
    assert amp.step_from(2.0, 1) == pytest.approx(2.05)
    assert amp.step_from(2.0, -1) == pytest.approx(1.975)
    assert amp.step_from(6.0, 1) is None and amp.step_from(0.0, -1) is None
    assert amp.floor(4.999) == pytest.approx(4.95) and amp.floor(5.0) == pytest.approx(5.0)
    assert amp.ceil(1.9801) == pytest.approx(2.0) and amp.ceil(2.0) == pytest.approx(2.0)
    assert amp.ceil(2.0001) == pytest.approx(2.05) and amp.ceil(-1.0) == 0.0 and amp.ceil(6.001) is None


def test_no_float_drift_on_the_grid():
    # 0.1 + 0.2 style drift must not make a grid value invalid
    assert DRG.amplitude_ma.contains(0.1 + 0.2 + 0.025 * 3)
    assert DRG.pulse_width_us.contains(40 + 10 * 7)
    assert not DRG.frequency_hz.contains(5)
