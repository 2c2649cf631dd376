"""The field solver against analytic solutions, superposition, reciprocity and its own cache."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.fields.solve import _sigma_cf, solve
from drgsim.validation.fields import sphere_errors, two_layer_errors


def test_sphere_electrode_matches_point_source_law():
    """V = I / (4 pi sigma) (1/r - 1/R) for a sphere of radius a grounded at R: within 1% for r >= 3a."""
    assert np.abs(sphere_errors()).max() < 0.01


@pytest.mark.parametrize("sigma2", [0.05, 1.0])
def test_two_layer_medium_matches_method_of_images(sigma2):
    """Source in layer 1 above a plane interface (drgsim.validation.fields): within 2%."""
    assert np.abs(two_layer_errors(sigma2)).max() < 0.02


def test_bipolar_solve_equals_difference_of_unit_solutions(drg_lead_field):
    """An independent FEM solve of contact 2 (+1 mA) / contact 3 (-1 mA) equals phi_2 - phi_3."""
    from ngsolve import BND, H1, BilinearForm, GridFunction, Integrate, LinearForm, Preconditioner, ds, dx, grad
    from ngsolve.krylovspace import CGSolver

    sol = drg_lead_field
    geometry = sol.spec.geometry.build(sol.spec.mesh)
    mesh = sol.mesh
    fes = H1(mesh, order=sol.spec.mesh.order, dirichlet=geometry.ground)
    u, v = fes.TnT()
    a = BilinearForm(fes)
    a += (_sigma_cf(mesh, geometry) * grad(u)) * grad(v) * dx
    pre = Preconditioner(a, "bddc")
    a.Assemble()
    f = LinearForm(fes)
    for name, sign in (("contact2", 1.0), ("contact3", -1.0)):
        faces = "|".join(geometry.faces(name))
        f += sign / Integrate(1, mesh, BND, definedon=mesh.Boundaries(faces)) * v * ds(faces)
    f.Assemble()
    g = GridFunction(fes)
    g.vec.data = CGSolver(a.mat, pre.mat, tol=1e-12, maxiter=2000) * f.vec
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(1.0, 6.0, 30), rng.uniform(-3, 3, 30), rng.uniform(-5, 15, 30)])
    direct = np.array([g(mesh(*p)) for p in pts]) * 1e3
    superposed = sol.program_potentials(pts, [0.0, 1.0, -1.0, 0.0])
    np.testing.assert_allclose(superposed, direct, rtol=1e-6, atol=1e-6 * np.abs(direct).max())


def test_reciprocity_and_impedances(drg_lead_field):
    z = drg_lead_field.impedance_ohm
    np.testing.assert_allclose(z, z.T, rtol=2e-3)  # from independent solves: the operator is symmetric
    assert np.all(np.diag(z) > 3 * z[0, 1])  # self >> mutual
    assert z[0, 1] > z[0, 2] > z[0, 3] > 0  # mutual impedance falls with distance
    zb = drg_lead_field.bipolar_impedance_ohm(0, 1)
    assert z[0, 0] < zb < 2 * z[0, 0]


def test_second_solve_reads_the_cache(drg_lead_field):
    again = solve(drg_lead_field.spec)
    assert again.report.cache_hit and not drg_lead_field.report.cache_hit
    pts = drg_lead_field.spec.geometry.lead.contact_centres_mm() + np.array([2.0, 0.0, 0.0])
    # the stored mesh round-trips its coordinates to ~1e-15 relative
    np.testing.assert_allclose(again.potentials(pts), drg_lead_field.potentials(pts), rtol=1e-9)
    np.testing.assert_array_equal(again.impedance_ohm, drg_lead_field.impedance_ohm)


def test_changed_input_never_reads_a_stale_cache(drg_lead_field):
    other = drg_lead_field.spec.model_copy(update={"geometry": drg_lead_field.spec.geometry.model_copy(
        update={"resistivity_ohm_cm": 250.0})})
    assert other.key() != drg_lead_field.spec.key()


def test_points_outside_the_mesh_are_refused(drg_lead_field):
    with pytest.raises(ValueError, match="outside"):
        drg_lead_field.potentials([[0.0, 0.0, 0.0]])  # inside the lead body


def test_lead_source_agrees_with_point_source_at_3_mm():
    """A 10 um fibre 3 mm from contact 2 of the DRG lead (default mesh) vs a point source 3 mm away:
    within 5% (the insulating lead body and the ring contact account for the difference)."""
    from drgsim.neurons.threshold import ThresholdConfig, run

    common = dict(model="mrg", diameter_um=10.0, nodes=41, distance_mm=3.0, tolerance=0.002)
    point = run(ThresholdConfig(**common)).threshold_ma
    lead = run(ThresholdConfig(**common, source="lead", lead="drg", contact=2)).threshold_ma
    assert lead == pytest.approx(point, rel=0.05)


def test_slid_contacts_match_the_lead_moved_whole(drg_lead_field):
    """A second contact set 0.3 mm along the same lead body (one mesh: ``contact_slides_mm``) gives the
    potentials of the whole lead moved 0.3 mm, to within 1.5% of their peak (0.4-0.5% here; two meshes of one geometry
    differ by about as much), and clearly not those of the unmoved contacts."""
    place = drg_lead_field.spec.geometry.lead
    slid = solve(drg_lead_field.spec.model_copy(update={"geometry": drg_lead_field.spec.geometry.model_copy(
        update={"lead": place.model_copy(update={"contact_slides_mm": (0.0, 0.3)})})}))
    tip = np.asarray(place.tip_mm) + 0.3 * np.asarray(place.direction)
    moved = solve(drg_lead_field.spec.model_copy(update={"geometry": drg_lead_field.spec.geometry.model_copy(
        update={"lead": place.model_copy(update={"tip_mm": tuple(tip)})})}))
    assert slid.contacts == [f"contact{k}" for k in range(1, 5)] + [f"contact{k}@0.3mm" for k in range(1, 5)]
    z = np.linspace(-12.0, 25.0, 150)
    for r in (1.5, 3.0):
        pts = np.column_stack([np.full_like(z, r), np.zeros_like(z), z])
        ref = moved.potentials(pts)
        peak = np.abs(ref).max()
        assert np.abs(slid.potentials(pts)[:, 4:] - ref).max() < 0.015 * peak
        assert np.abs(slid.potentials(pts)[:, :4] - ref).max() > 0.03 * peak  # 8.5% at 1.5 mm, 4.4% at 3 mm
    np.testing.assert_allclose(np.diag(slid.impedance_ohm)[4:], np.diag(moved.impedance_ohm), rtol=0.01)


def test_contact_sets_that_cut_the_surface_too_finely_are_refused():
    from drgsim.fields.lead import LeadPlacement

    with pytest.raises(ValueError, match="contact_slides_mm has -1"):
        LeadPlacement(contact_slides_mm=(0.0, -1.0))
    with pytest.raises(ValueError, match="repeats"):
        LeadPlacement(contact_slides_mm=(0.2, 0.2))
    with pytest.raises(ValueError, match="band 0.01 mm wide"):
        LeadPlacement(contact_slides_mm=(0.0, 0.01)).bands()
