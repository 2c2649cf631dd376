"""Parallel field solves: worker processes fill the shared cache with what an in-process solve gives."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

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
    assert len(reports) == 2 and done == [(0, 2), (1, 2), (2, 2)]  # the duplicate is solved once
    assert not any(r.cache_hit for r in reports)
    done.clear()
    assert solve_many(specs, workers=2, progress=lambda i, n: done.append((i, n))) == []  # all cached now
    assert done == [(2, 2)]
    for spec in specs.values():
        cached, fresh = solve(spec), solve(spec, use_cache=False)
        assert cached.report.cache_hit
        pts = np.array([[3.0, 0.0, 1.0], [0.0, 8.0, -4.0], [10.0, 10.0, 10.0]])
        np.testing.assert_allclose(cached.potentials(pts), fresh.potentials(pts), rtol=1e-8)
        np.testing.assert_allclose(cached.impedance_ohm, fresh.impedance_ohm, rtol=1e-8)



def test_a_field_that_takes_too_long_is_stopped_with_a_clear_error(tmp_path, monkeypatch):
    """Every therapy field is solved in a worker stopped after DRGSIM_FIELD_TIME_LIMIT_S (issue 19: the mesher
    once hung 24 minutes on a geometry without a word); the error names the site and the limit."""
    monkeypatch.setenv("DRGSIM_CACHE_DIR", str(tmp_path))
    spec = FieldSpec(geometry=SphereParams(radius_mm=40.0), mesh=MESH)
    monkeypatch.setenv("DRGSIM_FIELD_TIME_LIMIT_S", "0.2")
    with pytest.raises(RuntimeError, match=r"^lead 1, supine: building, meshing and solving the sphere model did "
                                           r"not finish within 0.2 s \(DRGSIM_FIELD_TIME_LIMIT_S\)"):
        solve_many({"lead 1, supine": spec})
    assert not (tmp_path / "fields").exists() or not any((tmp_path / "fields").iterdir())
    monkeypatch.setenv("DRGSIM_FIELD_TIME_LIMIT_S", "soon")
    with pytest.raises(ValueError, match="DRGSIM_FIELD_TIME_LIMIT_S='soon': allowed: a number of seconds > 0"):
        solve_many({"lead 1, supine": spec})


def test_the_meshers_own_output_is_collected_not_printed(capfd):
    """Netgen writes to the process's native standard output: inside ``_native_output`` that goes into the list
    the run report keeps, never onto the terminal or into --json output."""
    from drgsim.fields.solve import _native_output

    lines = []
    with _native_output(lines):
        os.write(1, b"Intersecting elements 1 and 2\n\nSurface meshing failed\n")
    print("after")
    assert lines == ["Intersecting elements 1 and 2", "Surface meshing failed"]
    assert capfd.readouterr().out == "after\n"


def test_the_field_command_solves_in_a_time_limited_worker(tmp_path, monkeypatch):
    """`drgsim field solve` builds, meshes and solves in a worker under the same limit (issue 19: every geometry
    step gets a time limit): past it, exit 1 naming the limit; bad limits exit 2; then solved, then cached."""
    from typer.testing import CliRunner

    from drgsim.cli import app

    monkeypatch.setenv("DRGSIM_CACHE_DIR", str(tmp_path))
    args = ["field", "solve", "--model", "homogeneous", "--maxh-mm", "40", "--contact-maxh-mm", "0.6", "--json"]
    runner = CliRunner()
    monkeypatch.setenv("DRGSIM_FIELD_TIME_LIMIT_S", "0.2")
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "did not finish within 0.2 s (DRGSIM_FIELD_TIME_LIMIT_S)" in res.stdout
    monkeypatch.setenv("DRGSIM_FIELD_TIME_LIMIT_S", "soon")
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "DRGSIM_FIELD_TIME_LIMIT_S" in json.loads(res.stdout)["error"]
    monkeypatch.delenv("DRGSIM_FIELD_TIME_LIMIT_S")
    first, second = (json.loads(runner.invoke(app, args).stdout) for _ in range(2))
    assert (first["cache_hit"], second["cache_hit"]) == (False, True)
    assert first["impedance_ohm"] == second["impedance_ohm"] and first["ndof"] == second["ndof"] > 0


def test_a_failed_mesh_is_one_clear_line_and_its_chatter_stays_out_of_the_terminal(tmp_path, monkeypatch, capfd):
    """Issue 18: the mesher's hundreds of lines never reach the terminal; the error says what failed and what to
    change; --verbose shows the mesher's messages of a run that meshed."""
    import netgen.occ
    from netgen.libngpy._meshing import NgException
    from typer.testing import CliRunner

    from drgsim.cli import app

    class Failing:
        def __init__(self, shape):
            pass

        def GenerateMesh(self, **kw):  # noqa: N802 - Netgen's name
            os.write(1, b"Intersecting elements 1 and 2\n" * 300)
            raise NgException("Meshing failed!")

    monkeypatch.setenv("DRGSIM_CACHE_DIR", str(tmp_path))
    args = ["field", "solve", "--model", "homogeneous", "--maxh-mm", "40", "--contact-maxh-mm", "0.6", "--json"]
    runner = CliRunner()
    with monkeypatch.context() as m:
        m.setattr(netgen.occ, "OCCGeometry", Failing)
        res = runner.invoke(app, args + ["--no-cache"])
    assert res.exit_code == 1
    error = json.loads(res.stdout)["error"]
    assert "meshing the homogeneous model failed" in error and "Change the element sizes" in error
    assert error.count("Intersecting elements") <= 3
    assert "Intersecting" not in capfd.readouterr().out
    res = runner.invoke(app, args + ["--no-cache", "--verbose"])
    assert res.exit_code == 0 and isinstance(json.loads(res.stdout)["mesher_messages"], list)
    assert "mesher: " in res.stderr
