"""Populations: cited proportions and placements, and every fibre inside its anatomical compartment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from drgsim.fields.anatomy_models import DRGParams, SCSParams
from drgsim.fields.figures import material_index
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.populations.drg import DRGPopulationConfig, drg_population
from drgsim.populations.scs import SEGMENTS_MEDIAL_TO_LATERAL, SCSPopulationConfig, scs_population

MESH = MeshSettings(maxh_mm=12.0, contact_maxh_mm=0.6, grading=0.4, optimize_steps=1)  # as tests/fields
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
        assert np.sum(kinds == kind) == round(600 * share)  # Kawamura & Dyck 1978, counted exactly
    assert len(set(kinds[:100])) == 3  # in no particular order
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


def test_dorsal_columns_are_stratified_by_group_depth_and_diameter():
    """Each (segment, side) group holds an equal share of the fibres, one per diameter quantile of the lognormal
    and, within its band of white matter, depths distributed as the band's area is (grid integration)."""
    params = SCSParams(level="T10")
    cfg = SCSPopulationConfig(n_dorsal_column=600, n_dorsal_root=0, n_nodes=5, seed=3)
    pop = scs_population(params, cfg)
    lay = params.layout()
    a, b, yc = lay["cord_a"], lay["cord_b"], lay["cord_y"]
    groups = {}
    for cell, info in zip(pop.cells, pop.info):
        groups.setdefault((info.segment, info.side), []).append((yc + b - cell.position_mm[0, 1], info.diameter_um))
    assert len(groups) == 2 * len(SEGMENTS_MEDIAL_TO_LATERAL) and {len(v) for v in groups.values()} == {30}
    width = 0.45 * a / len(SEGMENTS_MEDIAL_TO_LATERAL)
    xs, depths = np.meshgrid(np.linspace(0, width, 200), np.linspace(0.05, cfg.depth_mm, 400))
    for (segment, side), fibres in groups.items():
        depth, d = np.array(fibres).T
        q = norm.cdf((np.log(d) - np.log(cfg.diameter_median_um)) / cfg.diameter_sigma)
        assert sorted(np.floor(q * len(q)).astype(int)) == list(range(len(q))), (segment, side)
        x = xs + SEGMENTS_MEDIAL_TO_LATERAL.index(segment) * width
        white = ((x / a) ** 2 + ((b - depths) / b) ** 2 <= 0.95) & (b - depths >= b * lay["grey"] + 0.1)
        assert abs(depth.mean() - depths[white].mean()) < 0.03, (segment, side)


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
