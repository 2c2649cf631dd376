"""The optimizer: on the device's grid, reaching the target without motor activation, and locally optimal."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.anatomy.painmap import PainMap
from drgsim.devices.program import as_contacts, config_is_valid
from drgsim.devices.ranges import ParameterError
from drgsim.therapy.model import TherapyModel
from drgsim.therapy.optimize import OptimizerConfig, candidate_configurations, optimize
from drgsim.therapy.outcomes import evaluate_posture


def test_candidate_configurations():
    four = candidate_configurations(4)
    assert len(four) == 12 and len(set(four)) == 12  # 6 adjacent + 4 skip-one bipoles, 2 tripoles
    assert "+-+0" in four and "-0+0" in four and "-00+" not in four
    assert len(candidate_configurations(8)) == 32
    assert all(config_is_valid(as_contacts(c)) for c in four)


@pytest.fixture(scope="module")
def strict(drg_model):
    """No energy tolerance: the least-drain program that reaches the target."""
    return optimize(drg_model, OptimizerConfig(target_coverage_pct=60.0, energy_tolerance=0.0))


def test_optimized_drg_program_reaches_the_target_without_motor_activation(drg_model, strict):
    assert strict.target_met and strict.pain_coverage_pct >= 60.0
    out = evaluate_posture(drg_model, strict.program, "supine")
    assert out.pain_coverage_pct == pytest.approx(strict.pain_coverage_pct)
    assert not out.motor_activated and out.deliverable
    ipg = drg_model.implant.ipg()
    for s in strict.program.enabled_leads().values():
        for name in ("amplitude_ma", "pulse_width_us", "frequency_hz"):
            ipg.check_parameter(name, getattr(s, name))  # on the grid: raises otherwise
    assert any("reach 60% pain coverage" in line for line in strict.explanation)


def test_one_step_less_on_any_lead_misses_the_target(drg_model, strict):
    ipg = drg_model.implant.ipg()
    for k, s in strict.program.enabled_leads().items():
        lower = strict.program.model_copy(deep=True)
        lower.leads[k].amplitude_ma = ipg.amplitude_ma.step_from(s.amplitude_ma, -1)
        assert evaluate_posture(drg_model, lower, "supine").pain_coverage_pct < 60.0


def test_unreachable_target_returns_the_best_coverage(drg_model, patient):
    """Groin pain (L1) added: S1 and L5 leads cannot cover it all."""
    groin = patient.model_copy(update={"pain_map": PainMap(nrs={**patient.pain_map.nrs, "left_groin": 9})})
    model = TherapyModel(groin, drg_model.implant, drg_model.quality)
    res = optimize(model, OptimizerConfig(target_coverage_pct=95.0, pulse_widths_us=[300.0]))
    assert not res.target_met and 0 < res.pain_coverage_pct < 95.0
    assert "No program reaches 95%" in res.explanation[1]


def test_bad_optimizer_settings_are_named(drg_model):
    with pytest.raises(ParameterError, match="pulse_widths_us=35 us is outside the allowed range"):
        optimize(drg_model, OptimizerConfig(pulse_widths_us=[35.0]))
    with pytest.raises(ValueError, match="configurations entry '-\\+' has 2 contacts; allowed: 4"):
        optimize(drg_model, OptimizerConfig(configurations=["-+"]))
    with pytest.raises(ValueError, match="needs at least one \\+ and one -"):
        OptimizerConfig(configurations=["--00"])


def test_the_motor_bound_changes_no_threshold_below_it(drg_model, scs_model):
    """The A-beta tables stop at the lowest grid amplitude at which a motor cell fires (nothing above it is
    used): every threshold found below it is the full table's (to the device's maximum) exactly, a fibre
    reported silent has no threshold below it, and at every grid amplitude below it the same cells fire, for
    DRG and for SCS (where the motor cells are the dorsal-root fibres, A-beta themselves). Within the search's
    tolerance was not enough: a program chosen on a fibre's edge fired it in one table only (stop 28)."""
    from drgsim.therapy import optimize as opt
    from drgsim.therapy.outcomes import ABETA_KINDS
    from drgsim.therapy.systems import system_spec

    for model, contacts in ((drg_model, "+-00"), (scs_model, "000+0-00")):
        spec = system_spec(model.system)
        f = spec.frequency_hz
        site = model.site(1, "supine")
        amplitude = model.implant.ipg().amplitude_ma
        wf = site_waveform(model, contacts, f)
        thr, fires = opt._abeta_and_motor(site, as_contacts(contacts), wf, model.system, amplitude)
        kinds = tuple(sorted(set(ABETA_KINDS + spec.motor_kinds) & set(site.kinds)))
        full = site.table(as_contacts(contacts), wf, amplitude.maximum, kinds=kinds)
        motor = np.isin(site.kinds, spec.motor_kinds)
        bound = opt._first_firing(full, motor, amplitude)
        assert bound is not None
        tabled = np.isin(site.kinds, kinds)
        found = tabled & np.isfinite(thr)
        assert (found & (full.threshold_ma < bound)).any(), "nothing compared"
        np.testing.assert_array_equal(thr[found], full.threshold_ma[found])
        assert np.all(full.threshold_ma[tabled & ~found] > bound)
        for a in amplitude.grid[amplitude.grid < bound]:
            np.testing.assert_array_equal(fires(a)[tabled], full.fires(a)[tabled])


def site_waveform(model, contacts, frequency_hz):
    from drgsim.devices.program import LeadSettings

    site = model.site(1, "supine")
    cs = as_contacts(contacts)
    probe = LeadSettings(contacts=cs, amplitude_ma=0.0, pulse_width_us=300.0, frequency_hz=frequency_hz, enabled=False)
    return model.lead_waveform(probe, site.impedance_ohm(cs))
