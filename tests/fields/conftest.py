"""Field-solver fixtures: coarse meshes (CI)."""

from __future__ import annotations

import pytest

from drgsim.fields.geometry import HomogeneousParams
from drgsim.fields.lead import LeadPlacement
from drgsim.fields.solve import FieldSpec, MeshSettings, solve

COARSE = MeshSettings(maxh_mm=20.0, contact_maxh_mm=0.5, near_maxh_mm=1.5, grading=0.4)


@pytest.fixture(scope="session")
def drg_lead_field():
    """The DRG lead (4 contacts) centred in a homogeneous 500 ohm cm sphere."""
    spec = FieldSpec(geometry=HomogeneousParams(lead=LeadPlacement(lead_id="drg", tip_mm=(0.0, 0.0, -9.0),
                                                                   body_length_mm=40.0), radius_mm=150.0),
                     mesh=COARSE)
    return solve(spec)
