"""DRG and SCS volume conductors (coarse meshes): structure, impedances, and the dCSF trend."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.fields.anatomy_models import DRGParams, SCSParams
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.neurons.models import mrg
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds

MESH = MeshSettings(maxh_mm=12.0, contact_maxh_mm=0.6, grading=0.4)  # shared with tests/populations


@pytest.fixture(scope="module")
def drg_field():
    return solve(FieldSpec(geometry=DRGParams(level="L5"), mesh=MESH))


def test_drg_model_has_every_tissue_and_contact(drg_field):
    mats = set(drg_field.mesh.GetMaterials())
    assert {"bone", "fat_foramen", "fat_canal", "muscle", "epineurium", "ganglion", "root", "nerve",
            "encapsulation"} <= mats
    assert drg_field.contacts == [f"contact{k}" for k in range(1, 5)]
    z = drg_field.impedance_ohm
    np.testing.assert_allclose(z, z.T, rtol=5e-3)
    assert np.all((np.diag(z) > 300) & (np.diag(z) < 5000))  # ohm, monopolar


def test_ganglion_sees_the_contacts_over_it(drg_field):
    """Contacts 2-3 sit over the ganglion centre: they dominate there, contact 4 least."""
    g = drg_field.spec.geometry
    phi = drg_field.potentials(g.ganglion_centre_mm())[0]
    assert phi[1] > phi[3] and phi[2] > phi[3]


def _dorsal_column_threshold(dcsf_mm: float) -> float:
    params = SCSParams(level="T10", dcsf_mm=dcsf_mm)
    sol = solve(FieldSpec(geometry=params, mesh=MESH))
    lay = params.layout()
    cell = mrg.build(10.0, 31)
    centre = cell.position_mm[mrg.node_indices(cell)[15]]
    target = np.array([lay["cord_x"], lay["cord_y"] + lay["cord_b"] - 0.2, params.lead_centre_z_mm])
    cell = cell.with_positions(cell.position_mm - centre + target)
    batch = CellBatch.pack([cell])
    v = sol.program_potentials(batch.positions_mm, [0, 0, 0, -1.0, 1.0, 0, 0, 0])  # contacts 4 (-) and 5 (+)
    res = find_thresholds(batch, v, Waveform(pulse_width_us=300.0, polarity="anodic"), SimulationSettings(),
                          rel_tol=0.01)
    return float(res.threshold_ma[0])


def test_dorsal_column_thresholds_rise_with_dcsf():
    """Holsheimer 1994; He, Barolat & Holsheimer 1994: thicker dorsal CSF, higher thresholds."""
    thr = [_dorsal_column_threshold(d) for d in (2.5, 4.0, 5.5)]
    assert thr[0] < thr[1] < thr[2]
    assert thr[2] > 1.5 * thr[0]
