"""Battery model: the worked examples in drgsim.devices.battery by computation, and longevity's monotonic fall."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgsim.devices import LeadLoad, Recharge, estimate_battery, get_ipg_model, stimulation_current_ua, tissue_power_uw

DRG = get_ipg_model("drg_ipg")
SCS = get_ipg_model("scs_ipg")


def drg_estimate(amplitude_ma=0.8, pulse_width_us=300, frequency_hz=20, leads=4, impedance_ohm=1000.0, **kw):
    load = LeadLoad(amplitude_ma=amplitude_ma, pulse_width_us=pulse_width_us, frequency_hz=frequency_hz,
                    impedance_ohm=impedance_ohm)
    return estimate_battery([load] * leads, DRG.battery, **kw)


def test_worked_example_drg_four_leads_about_19_ua():
    est = drg_estimate()
    assert est.average_current_ua == pytest.approx(19, rel=0.05)
    assert est.chemistry == "primary" and est.recharge_interval_days is None
    assert est.battery_current_ua > est.quiescent_ua + est.telemetry_ua
    assert 1 < est.longevity_years < 20


def test_worked_example_tonic_scs_about_75_ua():
    load = LeadLoad(amplitude_ma=5, pulse_width_us=300, frequency_hz=50, impedance_ohm=1000)
    est = estimate_battery([load], SCS.battery)
    assert est.average_current_ua == pytest.approx(75, rel=0.02)
    assert est.chemistry == "rechargeable"
    assert est.recharge_interval_days > 0 and est.recharge_time_hours > 0


def test_worked_example_10_khz_about_750_ua():
    assert stimulation_current_ua(2.5, 30, 10_000) == pytest.approx(750, rel=0.01)


def test_active_recharge_doubles_the_drawn_charge_and_tissue_energy():
    assert stimulation_current_ua(1, 100, 50, Recharge.ACTIVE) == pytest.approx(2 * stimulation_current_ua(1, 100, 50))
    assert tissue_power_uw(1, 100, 50, 1000, Recharge.ACTIVE) == pytest.approx(2 * tissue_power_uw(1, 100, 50, 1000))


def test_tissue_energy_is_i2_r_pw_f():
    # 0.8 mA^2 * 1000 ohm * 300 us * 20 Hz = 3.84 uW per lead
    assert tissue_power_uw(0.8, 300, 20, 1000) == pytest.approx(3.84)


def test_duty_cycle_and_hours_scale_stimulation_only():
    full = drg_estimate()
    half = drg_estimate(hours_per_day=12)
    cyc = drg_estimate(duty_cycle=0.5)
    assert half.average_current_ua == pytest.approx(full.average_current_ua / 2)
    assert cyc.stimulation_battery_current_ua == pytest.approx(half.stimulation_battery_current_ua)
    assert half.quiescent_ua == full.quiescent_ua
    assert half.longevity_years > full.longevity_years
    idle = drg_estimate(hours_per_day=0)
    assert idle.average_current_ua == 0 and idle.battery_current_ua == pytest.approx(
        idle.quiescent_ua + idle.telemetry_ua + idle.self_discharge_ua)


def test_longevity_is_capacity_over_current():
    est = drg_estimate()
    hours = DRG.battery.capacity_mah * DRG.battery.usable_fraction / (est.battery_current_ua * 1e-3)
    assert est.longevity_years == pytest.approx(hours / (24 * 365.25))
    loads = [LeadLoad(amplitude_ma=0.8, pulse_width_us=300, frequency_hz=20, impedance_ohm=1000)] * 4
    no_leak = DRG.battery.model_copy(update={"self_discharge_percent_per_year": 0.0})
    double = no_leak.model_copy(update={"capacity_mah": 2 * no_leak.capacity_mah})
    # without self-discharge (which grows with the cell) longevity is proportional to capacity
    assert estimate_battery(loads, double).longevity_years == pytest.approx(
        2 * estimate_battery(loads, no_leak).longevity_years)


@pytest.mark.parametrize("param,values", [
    ("amplitude_ma", [0.1, 0.4, 0.8, 1.5, 2.0, 3.0, 4.5, 6.0]),
    ("pulse_width_us", [40, 100, 300, 500, 720]),
    ("frequency_hz", [4, 10, 20, 40, 60, 100]),
    ("leads", [1, 2, 3, 4]),
    ("impedance_ohm", [300, 600, 1000, 1500]),
])
def test_longevity_falls_strictly_with_each_parameter(param, values):
    years = [drg_estimate(**{param: v}).longevity_years for v in values]
    assert all(b < a for a, b in zip(years, years[1:])), years


@settings(max_examples=60, deadline=None)
@given(amp=st.sampled_from(list(DRG.amplitude_ma.grid[1:])), pw=st.sampled_from(list(DRG.pulse_width_us.grid)),
       f=st.sampled_from(list(DRG.frequency_hz.grid)), leads=st.integers(1, 4), z=st.floats(100, 1600),
       which=st.sampled_from(["amplitude_ma", "pulse_width_us", "frequency_hz", "leads", "impedance_ohm"]),
       factor=st.floats(1.01, 3.0))
def test_longevity_monotonic_property(amp, pw, f, leads, z, which, factor):
    base = dict(amplitude_ma=float(amp), pulse_width_us=float(pw), frequency_hz=float(f), leads=leads, impedance_ohm=z)
    more = dict(base)
    more[which] = base[which] * factor if which != "leads" else base[which] + 1
    assert drg_estimate(**more).longevity_years < drg_estimate(**base).longevity_years


def test_rechargeable_interval_falls_with_load_and_service_life_caps_longevity():
    def est(amp):
        return estimate_battery([LeadLoad(amplitude_ma=amp, pulse_width_us=300, frequency_hz=50, impedance_ohm=800)],
                                SCS.battery)
    a, b = est(3.0), est(6.0)
    assert b.recharge_interval_days < a.recharge_interval_days
    assert a.recharge_time_hours == pytest.approx(SCS.battery.usable_mah /
                                                  (SCS.battery.charge_current_ma * SCS.battery.charge_efficiency))
    assert a.longevity_years <= SCS.battery.service_life_years
    # a very heavy load recharges so often that the cycle life ends the service first
    heavy = estimate_battery([LeadLoad(amplitude_ma=10, pulse_width_us=1000, frequency_hz=900, impedance_ohm=1000)],
                             SCS.battery)
    assert heavy.longevity_limited_by == "cycle life" and heavy.longevity_years < SCS.battery.service_life_years


def test_bad_usage_is_refused():
    with pytest.raises(ValueError, match="hours_per_day"):
        drg_estimate(hours_per_day=25)
    with pytest.raises(ValueError, match="duty_cycle"):
        drg_estimate(duty_cycle=1.5)
