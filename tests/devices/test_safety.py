"""Safety numbers: the DRG contact's examples (6.1 and 110 uC/cm2) and the warning / refusal levels."""

from __future__ import annotations

import math

import pytest

from drgsim.devices import ContactState as C
from drgsim.devices import assess_lead, charge_per_phase_uc, get_lead, shannon_k

AREA = get_lead("drg").contact_area_cm2
BIPOLE = [C.CATHODE, C.ANODE, C.OFF, C.OFF]


def test_reference_charge_densities():
    low = assess_lead(BIPOLE, 0.8, 300, AREA)
    assert low.charge_per_phase_uc == pytest.approx(0.24)
    assert low.charge_density_uc_per_cm2 == pytest.approx(6.1, abs=0.05)
    assert low.level == "ok"
    high = assess_lead(BIPOLE, 6.0, 720, AREA)
    assert high.charge_density_uc_per_cm2 == pytest.approx(110, abs=0.5)
    assert high.level == "warning" and len(high.warnings) == 2  # above 30 uC/cm2 and k >= 1.85


def test_shannon_k_definition():
    q = charge_per_phase_uc(2.0, 500)
    k = shannon_k(q, AREA)
    assert math.log10(q / AREA) == pytest.approx(k - math.log10(q))
    assert shannon_k(0.0, AREA) is None


def test_warning_starts_just_above_30_uc_per_cm2():
    # 30 uC/cm2 at 720 us on the DRG contact is 1.636 mA: 1.625 mA is below, 1.65 mA above
    assert not assess_lead(BIPOLE, 1.625, 720, AREA).warnings
    w = assess_lead(BIPOLE, 1.65, 720, AREA).warnings
    assert len(w) == 1 and "30 uC/cm2" in w[0]


def test_current_splits_between_contacts_of_one_polarity():
    guarded = assess_lead([C.ANODE, C.CATHODE, C.ANODE, C.OFF], 1.0, 300, AREA)
    by_contact = {r.contact: r for r in guarded.contacts}
    assert by_contact[2].current_ma == pytest.approx(1.0)
    assert by_contact[1].current_ma == pytest.approx(0.5) == by_contact[3].current_ma
    assert guarded.charge_per_phase_uc == pytest.approx(0.3)  # the worst contact is the cathode


def test_compliance_is_a_refusal():
    ok = assess_lead(BIPOLE, 5.0, 100, AREA, impedance_ohm=2000, compliance_v=10)
    assert ok.level == "ok" and ok.load_voltage_v == pytest.approx(10.0)
    bad = assess_lead(BIPOLE, 5.05, 100, AREA, impedance_ohm=2000, compliance_v=10)
    assert bad.level == "refused" and "compliance" in bad.refusals[0] and "ceiling 5 mA" in bad.refusals[0]
