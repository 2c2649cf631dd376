"""Lead catalog: geometry and contact areas (DRG contact 1.0 mm x 1.25 mm = 0.039 cm2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drgsim.devices import get_ipg_model, get_lead, lead_catalog


def test_catalog_holds_drg_trial_and_scs_leads():
    cat = lead_catalog()
    assert {"drg", "drg_temp", "scs8", "scs8_temp"} <= set(cat)
    assert cat["drg"].n_contacts == 4 and cat["scs8"].n_contacts == 8
    assert cat["drg_temp"].use == "trial"


def test_contact_area_is_the_ring_surface():
    drg = get_lead("drg")
    assert drg.contact_area_cm2 == pytest.approx(0.039, abs=5e-4)
    assert drg.contact_area_cm2 == pytest.approx(math.pi * 0.10 * 0.125)
    scs = get_lead("scs8")
    assert scs.contact_area_cm2 == pytest.approx(math.pi * 0.13 * 0.30)


def test_contact_centres_follow_the_pitch():
    drg = get_lead("drg")
    np.testing.assert_allclose(drg.contact_centres_mm, [0, 5, 10, 15])
    assert drg.span_mm == pytest.approx(16.25)


def test_unverified_geometry_is_marked():
    assert "contact_diameter_mm" in get_lead("drg").unverified
    assert "n_contacts" not in get_lead("drg").unverified


def test_devices_accept_their_leads_only():
    assert get_ipg_model("drg_ipg").contacts_per_lead == get_lead("drg").n_contacts
    for m in ("drg_ipg", "drg_trial", "scs_ipg", "scs_trial"):
        model = get_ipg_model(m)
        assert all(get_lead(x).n_contacts == model.contacts_per_lead for x in model.lead_models)
    with pytest.raises(KeyError, match="allowed"):
        get_lead("nope")
