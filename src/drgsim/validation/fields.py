"""The field solver against analytic solutions (code verification) and its mesh convergence.

Analytic references: a spherical electrode in a grounded sphere, V = I / (4 pi sigma) (1/r - 1/R);
a point-like source above a plane between two conductivities, by the method of images (V1 = I/(4 pi
s1) (1/r + k/r'), V2 = I/(2 pi (s1 + s2) r), k = (s1 - s2)/(s1 + s2); e.g. Plonsey & Barr,
Bioelectricity: A Quantitative Approach, 3rd ed. 2007, ch. 8), compared as differences between
points, which removes the finite ground's offset.
"""

from __future__ import annotations

import numpy as np

from drgsim.fields.geometry import SphereParams
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.validation.cases import ValidationCase, case

SPHERE_MESH = MeshSettings(maxh_mm=25.0, contact_maxh_mm=0.15, grading=0.3)
_POINTS = np.array([1.5, 2.0, 3.0, 5.0, 10.0, 30.0])[:, None] * np.array(
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0], [0, -0.6, 0.8], [-1, 0, 0]])


def sphere_errors(mesh: MeshSettings = SPHERE_MESH) -> np.ndarray:
    """Relative errors of the FEM potential of a 0.5 mm sphere electrode at 1.5-30 mm (r >= 3a)."""
    a, R, sigma = 0.5, 100.0, 0.2
    sol = solve(FieldSpec(geometry=SphereParams(electrode_radius_mm=a, radius_mm=R, sigma_s_per_m=sigma), mesh=mesh))
    r = np.linalg.norm(_POINTS, axis=1)
    exact = 1e3 / (4 * np.pi * sigma) * (1 / r - 1 / R)
    return sol.potentials(_POINTS)[:, 0] / exact - 1


def two_layer_errors(sigma2_s_per_m: float, mesh: MeshSettings = SPHERE_MESH) -> np.ndarray:
    """Relative errors of potential differences (FEM vs method of images) across a plane 2 mm below the source."""
    s1, zi = 0.2, -2.0
    sol = solve(FieldSpec(geometry=SphereParams(electrode_radius_mm=0.5, radius_mm=150.0, sigma_s_per_m=s1,
                                                sigma2_s_per_m=sigma2_s_per_m, interface_z_mm=zi), mesh=mesh))
    k = (s1 - sigma2_s_per_m) / (s1 + sigma2_s_per_m)
    image = np.array([0.0, 0.0, 2 * zi])

    def exact(p):
        p = np.atleast_2d(p)
        r = np.linalg.norm(p, axis=1)
        upper = 1e3 / (4 * np.pi * s1) * (1 / r + k / np.linalg.norm(p - image, axis=1))
        lower = 1e3 / (2 * np.pi * (s1 + sigma2_s_per_m) * r)
        return np.where(p[:, 2] > zi, upper, lower)

    pts = np.array([[1.5, 0, 0], [3.0, 0, 0], [0, 3.0, 1.0], [2.0, 0, -3.0], [0, 0, -5.0], [4.0, 0, -4.0]])
    ref = np.array([0.0, 0.0, 12.0])
    dv = sol.potentials(pts)[:, 0] - sol.potentials(ref)[0, 0]
    return dv / (exact(pts) - exact(ref)[0]) - 1


def cases() -> list[ValidationCase]:
    out = []
    e = sphere_errors()
    out.append(case("field_sphere_point_source_law_max_error", "code verification",
                    "analytic: V = I/(4 pi sigma)(1/r - 1/R), 1.5-30 mm from a 0.5 mm sphere", 0.0,
                    float(np.abs(e).max()), "relative", 0.01, "absolute"))
    for s2 in (0.05, 1.0):
        e = two_layer_errors(s2)
        out.append(case(f"field_two_layer_images_sigma2_{s2:g}_max_error", "code verification",
                        "analytic: method of images, two half-spaces (0.2 / "
                        f"{s2:g} S/m)", 0.0, float(np.abs(e).max()), "relative", 0.02, "absolute"))
    return out
