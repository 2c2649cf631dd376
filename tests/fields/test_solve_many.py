"""Parallel field solves: worker processes fill the shared cache with what an in-process solve gives."""

from __future__ import annotations

import numpy as np

from drgsim.fields.geometry import SphereParams
from drgsim.fields.solve import FieldSpec, MeshSettings, solve, solve_many

MESH = MeshSettings(maxh_mm=30.0, contact_maxh_mm=0.5, near_maxh_mm=5.0, grading=0.5, order=1)


def test_worker_processes_store_the_in_process_solution(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_CACHE_DIR", str(tmp_path))
    specs = {f"sphere at z={z}": FieldSpec(geometry=SphereParams(radius_mm=40.0, centre_mm=(0.0, 0.0, z)), mesh=MESH)
             for z in (0.0, 5.0)}
    twin = {"the same field again": specs["sphere at z=0.0"]}
    done = []
    reports = solve_many({**specs, **twin}, workers=2, progress=lambda i, n: done.append((i, n)))
    assert len(reports) == 2 and done == [(1, 2), (2, 2)]  # the duplicate is solved once
    assert not any(r.cache_hit for r in reports)
    assert solve_many(specs, workers=2) == []  # all cached now
    for spec in specs.values():
        cached, fresh = solve(spec), solve(spec, use_cache=False)
        assert cached.report.cache_hit
        pts = np.array([[3.0, 0.0, 1.0], [0.0, 8.0, -4.0], [10.0, 10.0, 10.0]])
        np.testing.assert_allclose(cached.potentials(pts), fresh.potentials(pts), rtol=1e-8)
        np.testing.assert_allclose(cached.impedance_ohm, fresh.impedance_ohm, rtol=1e-8)

