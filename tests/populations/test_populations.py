"""Populations: cited proportions and placements, and every fibre inside its anatomical compartment."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.fields.anatomy_models import DRGParams, SCSParams
from drgsim.fields.figures import material_index
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.populations.drg import DRGPopulationConfig, drg_population
from drgsim.populations.scs import SEGMENTS_MEDIAL_TO_LATERAL, SCSPopulationConfig, scs_population

MESH = MeshSettings(maxh_mm=12.0, contact_maxh_mm=0.6, grading=0.4)
ALLOWED = {"abeta": {"ganglion", "root", "nerve"}, "adelta": {"ganglion", "root", "nerve"},
           "c": {"ganglion", "root", "nerve"}, "motor": {"root", "nerve"}, "dorsal_column": {"white_matter"},
           "dorsal_root": {"white_matter", "rootlet0", "rootlet1", "csf"}}


def _materials(sol, cell) -> set[str]:
    names = sol.mesh.GetMaterials()
    return {names[k] if k >= 0 else "outside" for k in material_index(sol, cell.position_mm)}


def test_drg_fibres_stay_in_ganglion_roots_and_nerve():
    params = DRGParams(level="L5")
    sol = solve(FieldSpec(geometry=params, mesh=MESH))
    pop = drg_population(params, DRGPopulationConfig(n_neurons=15, n_motor=3, seed=3))
    assert {i.kind for i in pop.info} == {"abeta", "adelta", "c", "motor"}
    for cell, info in zip(pop.cells, pop.info):
        assert _materials(sol, cell) <= ALLOWED[info.kind], info
        if info.kind != "motor":
            names = sol.mesh.GetMaterials()
            assert names[material_index(sol, cell.position_mm[:1])[0]] == "ganglion"  # the soma


def test_scs_fibres_stay_in_the_dorsal_columns_and_rootlets():
    params = SCSParams(level="T10")
    sol = solve(FieldSpec(geometry=params, mesh=MESH))
    pop = scs_population(params, SCSPopulationConfig(n_dorsal_column=12, n_dorsal_root=4, seed=1))
    for cell, info in zip(pop.cells, pop.info):
        assert _materials(sol, cell) <= ALLOWED[info.kind], info


@pytest.mark.parametrize("level", ["L4", "L5", "S1"])
def test_drg_proportions_and_soma_placement(level):
    params = DRGParams(level=level)
    pop = drg_population(params, DRGPopulationConfig(n_neurons=600, n_motor=0, seed=7))
    kinds = np.array([i.kind for i in pop.info])
    for kind, share in zip(("abeta", "adelta", "c"), (0.17, 0.46, 0.37)):
        assert abs(np.mean(kinds == kind) - share) < 0.05  # Kawamura & Dyck 1978
    g = params.drg()
    semi = np.array([g.ganglion_length_mm, g.ganglion_height_mm, g.ganglion_width_mm]) / 2
    rel = np.array([(cell.position_mm[0] - params.ganglion_centre_mm()) / semi for cell in pop.cells])
    rho = np.linalg.norm(rel, axis=1)
    assert np.all((rho > 0.6) & (rho < 0.96))  # the rim (Sperry 2020), soma centre half a soma inwards
    assert 0.66 < np.mean(rel[:, 1] > 0) < 0.78  # mostly dorsal
    assert np.all(np.abs(rel[:, 0]) <= 0.85 + 1e-9)  # inner 85% of the length


def test_dorsal_columns_are_somatotopic_and_mostly_thin():
    params = SCSParams(level="T10")
    pop = scs_population(params, SCSPopulationConfig(n_dorsal_column=400, n_dorsal_root=0, n_nodes=5, seed=2))
    lay = params.layout()
    x = np.array([abs(c.position_mm[0, 0] - lay["cord_x"]) for c in pop.cells])
    rank = np.array([SEGMENTS_MEDIAL_TO_LATERAL.index(i.segment) for i in pop.info])
    assert np.corrcoef(x, rank)[0, 1] > 0.95  # caudal segments medial, rostral lateral
    d = np.array([i.diameter_um for i in pop.info])
    assert np.mean(d > 10.7) < 0.02 and np.median(d) < 6  # Feirabend 2002: few large fibres


@pytest.mark.parametrize("build, params, moved", [
    (lambda p: drg_population(p, DRGPopulationConfig(n_neurons=6, n_motor=2, seed=5)), DRGParams(level="L4"),
     dict(lead_shift_mm=(2.0, 0.0, 0.0), lead_gap_mm=0.8, lead_angle_deg=20.0, contact_over_ganglion=1.5,
          contact_slides_mm=(0.0, 0.5), encapsulation_mm=0.5, placement_notes=("rests at 90 deg",))),
    (lambda p: scs_population(p, SCSPopulationConfig(n_dorsal_column=6, n_dorsal_root=2, seed=5)),
     SCSParams(level="T10"), dict(lead_offset_mm=2.0, encapsulation_mm=0.4)),
])
def test_cells_do_not_depend_on_where_the_lead_lies(build, params, moved):
    """A site's cells are built once per anatomy (``anatomy_only``) and shared by its postures and leads:
    exact only if no lead parameter moves a cell."""
    assert set(moved) == set(params.LEAD_FIELDS) - {"lead_id"}
    a, b = build(params), build(params.model_copy(update=moved))
    assert a.info == b.info
    for x, y in zip(a.cells, b.cells):
        np.testing.assert_array_equal(x.position_mm, y.position_mm)
        np.testing.assert_array_equal(x.diam_um, y.diam_um)
