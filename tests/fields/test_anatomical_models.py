"""DRG and SCS volume conductors (coarse meshes): structure, impedances, and the dCSF trend."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.fields.anatomy_models import DRGParams, SCSParams
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.neurons.models import mrg
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds

MESH = MeshSettings(maxh_mm=12.0, contact_maxh_mm=0.6, grading=0.4, optimize_steps=1)  # as tests/populations


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
    """On the quick quality's mesh: at 2.5 mm 19k unknowns and 103k elements (MESH: 237k and 172k), and the
    trend stays resolved (1.67, 3.55, 6.29 mA at 2.5, 4.0, 5.5 mm)."""
    from drgsim.therapy.model import quality

    params = SCSParams(level="T10", dcsf_mm=dcsf_mm)
    sol = solve(FieldSpec(geometry=params, mesh=quality("quick").mesh))
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


def _drawn_drg(seed: int, level: str) -> DRGParams:
    """A virtual patient's ganglion with the lead as the therapy model places it."""
    from drgsim.anatomy.levels import Level, Side
    from drgsim.anatomy.patient import generate_patient
    from drgsim.therapy.model import LeadPlan, _drg_params

    return _drg_params(generate_patient(seed), LeadPlan(level=Level(level), side=Side.LEFT))


def _distance_to_ellipse(points: np.ndarray, a: float, b: float) -> np.ndarray:
    """Distance of (y, z) points inside the ellipse y^2/a^2 + z^2/b^2 = 1 to its boundary (dense sampling)."""
    th = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    rim = np.stack([a * np.cos(th), b * np.sin(th)], axis=1)
    return np.array([np.min(np.linalg.norm(rim - p, axis=1)) for p in points])


@pytest.mark.parametrize("level", ["T12", "L3", "L5", "S1"])
def test_drawn_ganglia_keep_their_clearances(level):
    """Issue 14: however the anatomy is drawn, the foramen's wall stays 0.3 mm clear of the sleeve, the
    roots and the lead; each root's outline differs by >= 0.15 mm from the ganglion's and sleeve's where they
    meet; the foramen's faces lie >= 0.15 mm from the ganglion's ends. Checked from the built parts."""
    from drgsim.fields.anatomy_models import PLANE_GAP_MM, WALL_CLEARANCE_MM

    for seed in range(12):
        p = _drawn_drg(seed, level)
        g, lay = p.drg(), p.layout()
        t = g.dural_sleeve_thickness_mm + g.sleeve_csf_mm
        place = p.lead_placement()
        lead_yz = np.asarray(place.tip_mm)[1:]
        r_env = place.lead.contact_diameter_mm / 2 + p.encapsulation_mm
        vroot_yz = p.ventral_root_axis_mm()[0, 1:]
        a, b = lay.foramen_semi_y_mm, lay.foramen_semi_z_mm
        d = _distance_to_ellipse(np.array([lead_yz, vroot_yz]), a, b)
        assert d[0] >= r_env + WALL_CLEARANCE_MM - 0.01 and d[1] >= g.ventral_root_diameter_mm / 2 + 0.29
        th = np.linspace(0, 2 * np.pi, 360)
        sleeve = np.stack([(g.ganglion_height_mm / 2 + t) * np.cos(th), (g.ganglion_width_mm / 2 + t) * np.sin(th)], 1)
        assert np.all((sleeve[:, 0] / a) ** 2 + (sleeve[:, 1] / b) ** 2 < 1)
        assert np.linalg.norm(lead_yz) - r_env >= max(g.dorsal_root_diameter_mm, g.spinal_nerve_diameter_mm) / 2
        c = p.ganglion_centre_mm()[0]
        for x in (lay.cut_medial_mm, lay.cut_lateral_mm):
            assert abs(abs(x) - lay.foramen_half_length_mm) >= PLANE_GAP_MM - 1e-9
            assert 0.5 <= abs(x - c) / (g.ganglion_length_mm / 2) <= 0.95


def test_the_readme_draw_meshes():
    """The README's example patient (seed 7, left anterior knee) could not be meshed at L3 ("boundary mesh
    is overlapping" at every retry): the root began 0.05 mm inside the ganglion's tip."""
    from drgsim.fields.solve import mesh_only
    from drgsim.therapy.model import quality

    notes = mesh_only(FieldSpec(geometry=_drawn_drg(7, "L3"), mesh=quality("quick").mesh))
    assert any("foramen" in n for n in notes)


def test_impossible_drg_dimensions_are_named():
    with pytest.raises(ValueError, match="ventral_root_gap_mm=0.05"):
        DRGParams(anatomy={"ventral_root_gap_mm": 0.05}).layout()
    with pytest.raises(ValueError, match="lead_gap_mm"):
        DRGParams(lead_gap_mm=0.0)


def _drawn_scs(seed: int, posture: str) -> SCSParams:
    from drgsim.anatomy.levels import Level, Side
    from drgsim.anatomy.patient import generate_patient
    from drgsim.anatomy.posture import Posture
    from drgsim.therapy.model import LeadPlan, _scs_params

    return _scs_params(generate_patient(seed), LeadPlan(level=Level.T10, side=Side.LEFT), Posture(posture))


def _cord_gap(lay: dict, n: int = 4000) -> float:
    """Least distance from the cord's outline to the inner dura, by points on the cord and the dura's
    implicit equation (independent of the model's own sampling)."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = lay["cord_x"] + lay["cord_a"] * np.cos(th)
    y = lay["cord_y"] + lay["cord_b"] * np.sin(th)
    a, b = lay["sac_a"] - lay["dura"], lay["sac_b"] - lay["dura"]
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    sx, sy = a * np.cos(phi), lay["sac_y"] + b * np.sin(phi)
    inside = (x / a) ** 2 + ((y - lay["sac_y"]) / b) ** 2 < 1
    assert inside.all()
    return float(min(np.hypot(x[i] - sx, y[i] - sy).min() for i in range(0, n, 4)))


def _rim(centre, axis, r, n=90):
    axis = axis / np.linalg.norm(axis)
    u = np.cross(axis, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre + r * (np.outer(np.cos(th), u) + np.outer(np.sin(th), v))


def test_an_offset_cord_falling_ventrally_rests_inside_the_dura():
    """Cohort patient c3-00001 (seed 3, index 1): prone, the cord 1.48 mm off midline fell 9.27 mm below the
    dorsal dura, 0.001 mm from the ventral dura where the sac narrows; Netgen could not mesh it."""
    from drgsim.anatomy.levels import Level, Side
    from drgsim.anatomy.posture import Posture
    from drgsim.cohort.population import CohortConfig, draw_cohort
    from drgsim.fields.solve import mesh_only
    from drgsim.therapy.model import LeadPlan, _scs_params, quality

    patient = draw_cohort(CohortConfig(n=2, seed=3, quality="quick"))[1].patient
    params = _scs_params(patient, LeadPlan(level=Level.T10, side=Side.RIGHT), Posture.PRONE)
    lay = params.layout()
    assert _cord_gap(lay) == pytest.approx(0.5, abs=0.01)
    assert lay["dcsf"] < params.canal().dcsf_mm and abs(lay["cord_x"]) < abs(params.canal().cord_offset_mm)
    notes = mesh_only(FieldSpec(geometry=params, mesh=quality("quick").mesh))
    assert any("cord rests" in n for n in notes)


@pytest.mark.parametrize("seed", range(12))
def test_drawn_cords_keep_their_clearance_in_every_posture(seed):
    for posture in ("supine", "prone", "sitting", "standing"):
        params = _drawn_scs(seed, posture)
        lay = params.layout()
        assert _cord_gap(lay) >= 0.49
        r = params.rootlet_diameter_mm / 2
        for start, end in params.rootlet_paths():  # caps buried in the cord and clear of the dura
            rim = _rim(start, end - start, r)
            assert (((rim[:, 0] - lay["cord_x"]) / (lay["cord_a"] - 0.29)) ** 2
                    + ((rim[:, 1] - lay["cord_y"]) / (lay["cord_b"] - 0.29)) ** 2 < 1).all()
            rim = _rim(end, end - start, r)
            inset = lay["dura"] + 0.29
            assert ((rim[:, 0] / (lay["sac_a"] - inset)) ** 2
                    + ((rim[:, 1] - lay["sac_y"]) / (lay["sac_b"] - inset)) ** 2 < 1).all()
        if not params.notes():  # where nothing was moved, the canal's own numbers are modelled
            assert lay["dcsf"] == pytest.approx(params.canal().dcsf_mm)
            assert lay["cord_x"] == params.canal().cord_offset_mm


def test_the_field_slice_names_its_tissues(drg_field, tmp_path, monkeypatch):
    """The slice `drgsim field solve --figure` writes labels every tissue it cuts (issue 19: unlabelled tissues)."""
    from matplotlib.axes import Axes

    from drgsim.fields.figures import slice_figure

    labels, text = [], Axes.text
    monkeypatch.setattr(Axes, "text", lambda self, x, y, s, *a, **k: labels.append(s) or text(self, x, y, s, *a, **k))
    path = slice_figure(drg_field, tmp_path / "slice.png", centre_mm=drg_field.spec.geometry.ganglion_centre_mm(),
                        axes=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ganglion" in labels and len(labels) >= 4
    assert set(labels) <= {m.replace("_", " ") for m in drg_field.mesh.GetMaterials()}
