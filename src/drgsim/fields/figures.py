"""Field figures: a potential slice with the anatomy's material boundaries, and VTK for 3D viewers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drgsim.fields.solve import FieldSolution


def material_index(sol: FieldSolution, points_mm: np.ndarray) -> np.ndarray:
    """Index into ``sol.mesh.GetMaterials()`` of each point; -1 outside the conducting mesh."""
    from ngsolve import CoefficientFunction

    names = sol.mesh.GetMaterials()
    cf = CoefficientFunction(list(range(len(names))))
    p = np.asarray(points_mm, dtype=float)
    mp = sol.mesh(p[:, 0], p[:, 1], p[:, 2])
    inside = np.asarray(mp["nr"]) >= 0
    out = np.full(len(p), -1)
    if inside.any():
        out[inside] = np.rint(cf(mp[inside]).ravel()).astype(int)
    return out


def slice_figure(sol: FieldSolution, path: Path, currents_ma=None, centre_mm=(0.0, 0.0, 0.0),
                 axes=((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)), half_width_mm: float = 15.0, n: int = 241) -> Path:
    """Potential of a program (default: 1 mA from contact 1) on a plane through ``centre_mm`` spanned by
    ``axes``, with the material boundaries drawn and named and the lead body blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.zeros(sol.n_contacts)
    if currents_ma is None:
        w[0] = 1.0
    else:
        w = np.asarray(currents_ma, dtype=float)
    u, v = (np.asarray(a, dtype=float) / np.linalg.norm(a) for a in axes)
    s = np.linspace(-half_width_mm, half_width_mm, n)
    S, T = np.meshgrid(s, s)
    pts = np.asarray(centre_mm) + S.reshape(-1, 1) * u + T.reshape(-1, 1) * v
    mat = material_index(sol, pts)
    inside = mat >= 0
    phi = np.full(len(pts), np.nan)
    phi[inside] = sol.potentials(pts[inside]) @ w
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    if np.nanmin(phi) > 0:  # monopolar: every potential positive, a log scale shows the decay
        from matplotlib.colors import LogNorm

        norm = LogNorm(vmin=np.nanpercentile(phi, 1), vmax=np.nanpercentile(phi, 99.5))
        im = ax.pcolormesh(S, T, phi.reshape(S.shape), cmap="magma", norm=norm, shading="auto")
    else:
        lim = np.nanpercentile(np.abs(phi), 99)
        im = ax.pcolormesh(S, T, phi.reshape(S.shape), cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
    fig.colorbar(im, ax=ax, label="potential (mV)")
    m = mat.reshape(S.shape).astype(float)
    m[m < 0] = np.nan
    names = sol.mesh.GetMaterials()
    for k in range(len(names)):
        ax.contour(S, T, (m == k).astype(float), levels=[0.5], colors="k", linewidths=0.6)
    _label_tissues(ax, S, T, m, names)
    ax.set_aspect("equal")
    ax.set_xlabel(f"mm along {np.round(u, 2).tolist()}")
    ax.set_ylabel(f"mm along {np.round(v, 2).tolist()}")
    ax.set_title(f"{sol.spec.geometry.model}: currents {np.round(w, 3).tolist()} mA")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _label_tissues(ax, S, T, m, names, min_pixels: int = 40) -> None:
    """Each material's name at the point of the slice deepest inside it (farthest from its boundary)."""
    from scipy.ndimage import distance_transform_edt

    for k, name in enumerate(names):
        inside = m == k
        if inside.sum() < min_pixels:
            continue
        depth = distance_transform_edt(inside)
        i, j = np.unravel_index(np.argmax(depth), depth.shape)
        ax.text(S[i, j], T[i, j], name.replace("_", " "), fontsize=7, ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75, "linewidth": 0})


def export_vtk(sol: FieldSolution, path: Path) -> Path:
    """Unit solutions of every contact (V per mA) on the mesh, as a .vtu file for ParaView."""
    from ngsolve import VTKOutput

    path = Path(path)
    stem = str(path.with_suffix(""))
    VTKOutput(sol.mesh, coefs=sol.grid_functions, names=[f"{c}_V_per_mA" for c in sol.contacts], filename=stem,
              subdivision=0).Do()
    return Path(stem + ".vtu")
