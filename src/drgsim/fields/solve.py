"""Finite-element solution of the volume conductor: one unit-current solution per contact.

-div(sigma grad phi) = 0 in the tissue; each contact in turn injects 1 mA with uniform current
density over its surface, the outer surface is grounded (the distant return) and every other
surface is insulating. P2 Lagrange elements (NGSolve), conjugate gradients preconditioned with the
operator's diagonal (Jacobi): about 400 iterations here, but no set-up, where BDDC (OSS-DBS v2's choice)
spent 11-14 s factorising its coarse problem for a 150k-DOF model to save 0.5 s per contact; both
reach the same solution (the tests solve with BDDC independently). Because the problem is linear and every unit
solution shares
the operator, any program is a weighted sum of them (superposition), and reciprocity holds.

Units: coordinates in mm and sigma in S/m (= mS/mm), so 1 mA gives phi in V; potentials are
reported in mV per mA and impedances in ohm. Solutions are cached on disk by a content hash of
everything that defines them; a run report records per-stage timings, DOFs and peak memory.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim import __version__, fingerprint
from drgsim.fields.anatomy_models import DRGParams, EpineuralParams, SCSParams
from drgsim.fields.geometry import Geometry, HomogeneousParams, SphereParams

FIELDS_SCHEMA = 2  # bump when the stored format changes
log = logging.getLogger(__name__)
# Netgen's surface mesher now and then fails on the thin layers (dura, encapsulation, rootlets): such a
# mesh is retried with every element size scaled down; the run report gives the scale used.
MESH_RETRY_SCALES = (1.0, 0.9, 0.8, 0.7)
CG_MAX_ITERATIONS = 20_000  # Jacobi-preconditioned CG needs ~400 on the default meshes; a bound, not a target
# A field solved by ``solve_many`` (every therapy field) runs in a worker process stopped after this long: a
# geometry the mesher cannot finish fails with a clear error instead of hanging. The default fields take
# 10-150 s here; DRGSIM_FIELD_TIME_LIMIT_S changes the limit.
FIELD_TIME_LIMIT_S = 1800.0
MESHER_MESSAGES_KEPT = 20  # lines of Netgen's own output kept in a run report


@functools.cache
def code_fingerprint() -> str:
    """Hash of the code and data that turn a spec into a solution (this module and what it imports: the
    volume conductors, the lead catalog, the anatomy), so that a cached solution is never read after
    any of them changed, and stays valid when anything else does."""
    return fingerprint.code_fingerprint(("drgsim.fields.solve",), FIELD_DATA_FILES)


FIELD_DATA_FILES = ("conductivities.json", "leads.json", "spine.json", "posture.json")


class MeshSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    maxh_mm: float = Field(10.0, gt=0, le=200, description="largest element far from the leads")
    contact_maxh_mm: float = Field(0.35, gt=0, le=10, description="element size on the contacts")
    near_maxh_mm: float = Field(1.0, gt=0, le=20, description="element size where the neurons are (ganglion, "
                                "roots, cord; the lead's surroundings), so potentials resolve internodes")
    grading: float = Field(0.3, gt=0, le=1)
    order: int = Field(2, ge=1, le=3)
    optimize_steps: int = Field(3, ge=0, le=10, description="Netgen's volume-mesh optimisation passes "
                                "(optsteps3d, Netgen's default 3): each improves element shapes and costs about a "
                                "sixth of the mesh time; past the first the potentials move less than re-meshing does")


class FieldSpec(BaseModel):
    """Everything that defines a field solution (and its cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    geometry: Annotated[HomogeneousParams | SphereParams | DRGParams | SCSParams | EpineuralParams,
                        Field(discriminator="model")]
    mesh: MeshSettings = MeshSettings()
    tol: float = Field(1e-10, gt=0, lt=1e-3)

    def key(self) -> str:
        text = json.dumps({"spec": self.model_dump(mode="json"), "schema": FIELDS_SCHEMA, "code": code_fingerprint()},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class RunReport(BaseModel):
    key: str
    cache_hit: bool
    ndof: int
    n_elements: int
    n_contacts: int
    seconds: dict[str, float]
    peak_memory_mb: float
    cg_iterations: list[int]
    mesh_scale: float = 1.0  # element sizes used / asked for (below 1 after a meshing retry)
    geometry_notes: list[str] = []  # dimensions the geometry's construction changed to keep its clearances
    mesher_messages: list[str] = []  # Netgen's own output (warnings, failures before a retry), first lines
    drgsim_version: str = __version__


def cache_dir() -> Path:
    base = os.environ.get("DRGSIM_CACHE_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "drgsim"


class FieldSolution:
    """Unit-current potentials of every contact, sampled anywhere in the mesh. ``load`` gives the mesh
    and the solution vectors; it runs at the first sampling, so a cached solution whose impedances are
    all a caller needs never reads its mesh."""

    def __init__(self, spec: FieldSpec, contacts: list[str], impedance_ohm: np.ndarray, report: RunReport,
                 load: Callable[[], tuple[object, np.ndarray]]):
        self.spec = spec
        self.contacts = contacts
        self.impedance_ohm = impedance_ohm
        self.report = report
        self._load = load

    @functools.cached_property
    def _loaded(self):
        from ngsolve import H1, GridFunction

        mesh, vectors = self._load()
        fes = H1(mesh, order=self.spec.mesh.order)
        grid_functions = []
        for v in vectors:
            g = GridFunction(fes)
            g.vec.FV().NumPy()[:] = v
            grid_functions.append(g)
        return mesh, fes, grid_functions

    @property
    def mesh(self):
        return self._loaded[0]

    @property
    def fes(self):
        return self._loaded[1]

    @property
    def grid_functions(self):
        return self._loaded[2]

    @property
    def n_contacts(self) -> int:
        return len(self.contacts)

    def potentials(self, points_mm) -> np.ndarray:
        """Potential (mV) at each point for 1 mA from each contact: shape (n_points, n_contacts)."""
        p = np.atleast_2d(np.asarray(points_mm, dtype=float))
        if p.shape[-1] != 3:
            raise ValueError(f"points_mm must have shape (n, 3), got {p.shape}")
        mp = self.mesh(p[:, 0], p[:, 1], p[:, 2])
        outside = np.asarray(mp["nr"]) < 0
        if outside.any():
            raise ValueError(f"{int(outside.sum())} of {len(p)} points lie outside the conducting mesh "
                             f"(e.g. {p[np.flatnonzero(outside)[0]].round(3).tolist()} mm)")
        return np.stack([g(mp).ravel() for g in self.grid_functions], axis=1) * 1e3

    def program_potentials(self, points_mm, currents_ma) -> np.ndarray:
        """Potential (mV) of a program by superposition; ``currents_ma`` has one value per contact,
        positive where current leaves the contact into the tissue (anode), negative at cathodes."""
        w = np.asarray(currents_ma, dtype=float)
        if w.shape != (self.n_contacts,):
            raise ValueError(f"currents_ma needs {self.n_contacts} values, got {w.shape}")
        return self.potentials(points_mm) @ w

    def bipolar_impedance_ohm(self, i: int, j: int) -> float:
        """Impedance between contacts i and j (0-based) for current in at i and out at j."""
        z = self.impedance_ohm
        return float(z[i, i] + z[j, j] - z[i, j] - z[j, i])


def _sigma_cf(mesh, geometry: Geometry):
    from ngsolve import CoefficientFunction

    cfs = []
    for name in mesh.GetMaterials():
        cond, axis = geometry.materials[name]
        cfs.append(CoefficientFunction(tuple(cond.tensor(axis).ravel()), dims=(3, 3)))
    return CoefficientFunction(cfs)


@contextlib.contextmanager
def _native_output(lines: list[str]):
    """Netgen's mesher prints its warnings (hundreds of lines on a failed mesh) on the process's native standard
    output, which belongs to results (``--json``) and runs through progress bars: collect them into ``lines``
    meanwhile (the run report keeps the first, an error quotes them)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(x.strip() for x in sink.read().decode(errors="replace").splitlines() if x.strip())


def _solve_fresh(spec: FieldSpec, progress=None, threads: int | None = None):
    from ngsolve import TaskManager

    geometry, mesh, t = _mesh(spec, threads)
    with TaskManager():
        return _discretise_and_solve(spec, geometry, mesh, t, progress)


def mesh_only(spec: FieldSpec, threads: int | None = None) -> list[str]:
    """Build and mesh ``spec``'s geometry as a solve would (no solve, no cache); the geometry's notes. Raises
    RuntimeError when it cannot be meshed, ValueError when it cannot be built."""
    return _mesh(spec, threads)[0].notes


def _mesh(spec: FieldSpec, threads: int | None):
    from netgen.libngpy._meshing import NgException
    from netgen.occ import OCCGeometry
    from ngsolve import Mesh

    t = {"geometry": 0.0, "mesh": 0.0}
    failures: list[str] = []
    messages: list[str] = []  # the mesher's own lines
    for scale in MESH_RETRY_SCALES:
        m = spec.mesh.model_copy(update={k: getattr(spec.mesh, k) * scale
                                         for k in ("maxh_mm", "contact_maxh_mm", "near_maxh_mm")})
        t0 = time.perf_counter()
        geometry = spec.geometry.build(m)
        t["geometry"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            with _native_output(messages):
                ngmesh = OCCGeometry(geometry.shape).GenerateMesh(maxh=m.maxh_mm, grading=m.grading,
                                                                  optsteps3d=m.optimize_steps,
                                                                  **({'nthreads': threads} if threads else {}))
            break
        except NgException as err:
            failures.append(f"meshing at element sizes x{scale:g} failed: {err}")
        finally:
            t["mesh"] += time.perf_counter() - t0
    else:
        raise RuntimeError(f"meshing the {spec.geometry.model} model failed at element sizes x"
                           f"{', x'.join(map(str, MESH_RETRY_SCALES))} of {spec.mesh.model_dump()}: "
                           f"{failures[-1]} (the mesher said first: {'; '.join(messages[:3]) or 'nothing'}). "
                           f"Change the "
                           f"element sizes (maxh_mm, contact_maxh_mm, near_maxh_mm) or the geometry that failed; "
                           f"`drgsim field solve --verbose` shows the mesher's messages")
    t["mesh_scale"] = scale
    kept = failures + messages
    t["messages"] = kept[:MESHER_MESSAGES_KEPT] + (
        [f"... and {len(kept) - MESHER_MESSAGES_KEPT} more lines"] if len(kept) > MESHER_MESSAGES_KEPT else [])
    t0 = time.perf_counter()
    mesh = Mesh(ngmesh)
    faces = [f for c in geometry.contacts for f in geometry.faces(c)] + [geometry.ground]
    missing = [f for f in faces if f not in mesh.GetBoundaries()]
    if missing:
        raise RuntimeError(f"surfaces {missing} were lost in meshing")
    t["mesh"] += time.perf_counter() - t0
    return geometry, mesh, t


def _discretise_and_solve(spec: FieldSpec, geometry: Geometry, mesh, t: dict, progress):
    from ngsolve import BND, H1, BilinearForm, GridFunction, Integrate, LinearForm, Preconditioner, ds, dx, grad
    from ngsolve.krylovspace import CGSolver

    t0 = time.perf_counter()
    fes = H1(mesh, order=spec.mesh.order, dirichlet=geometry.ground)
    u, v = fes.TnT()
    sigma = _sigma_cf(mesh, geometry)
    a = BilinearForm(fes)
    a += (sigma * grad(u)) * grad(v) * dx
    pre = Preconditioner(a, "local")
    a.Assemble()
    regions = ["|".join(geometry.faces(c)) for c in geometry.contacts]  # a contact is the union of its faces
    areas = [Integrate(1, mesh, BND, definedon=mesh.Boundaries(r)) for r in regions]
    t["assemble"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors, iterations = [], []
    gfu = GridFunction(fes)
    for c, r, area in zip(geometry.contacts, regions, areas):
        f = LinearForm(fes)
        f += (1.0 / area) * v * ds(r)  # 1 mA over the contact: J in mA/mm2
        f.Assemble()
        solver = CGSolver(a.mat, pre.mat, tol=spec.tol, maxiter=CG_MAX_ITERATIONS)
        gfu.vec.data = solver * f.vec
        if solver.residuals[-1] > spec.tol * solver.residuals[0]:
            raise RuntimeError(f"conjugate gradients did not reach tol={spec.tol:g} for {c} in {solver.iterations} "
                               f"iterations (residual ratio {solver.residuals[-1] / solver.residuals[0]:.2g})")
        iterations.append(int(solver.iterations))
        vectors.append(gfu.vec.FV().NumPy().copy())
        if progress:
            progress()
    t["solve"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = len(geometry.contacts)
    z = np.empty((n, n))
    for k, vec in enumerate(vectors):
        gfu.vec.FV().NumPy()[:] = vec
        for j, (r, area) in enumerate(zip(regions, areas)):
            z[j, k] = Integrate(gfu, mesh, BND, definedon=mesh.Boundaries(r)) / area * 1e3  # V/mA -> ohm
    t["impedance"] = time.perf_counter() - t0
    return geometry, mesh, np.array(vectors), z, t, fes.ndof, iterations


def solve(spec: FieldSpec, use_cache: bool = True, progress=None, threads: int | None = None) -> FieldSolution:
    """The unit solutions of ``spec``, from the disk cache when present (no solve is then performed);
    ``threads`` caps the mesher's and solver's threads (default: Netgen's and NGSolve's own)."""
    from ngsolve import Mesh

    key = spec.key()
    folder = _cache_folder(key)
    t_start = time.perf_counter()
    if use_cache and (folder / "solution.npz").exists():
        t0 = time.perf_counter()
        with np.load(folder / "solution.npz") as data:
            z = data["impedance_ohm"]
        meta = json.loads((folder / "meta.json").read_text())
        report = RunReport(key=key, cache_hit=True, ndof=int(meta["ndof"]), n_elements=int(meta["n_elements"]),
                           n_contacts=len(meta["contacts"]), mesh_scale=meta.get("mesh_scale", 1.0),
                           geometry_notes=meta.get("geometry_notes", []),
                           mesher_messages=meta.get("mesher_messages", []),
                           seconds={"load": time.perf_counter() - t0, "total": time.perf_counter() - t_start},
                           peak_memory_mb=_peak_mb(), cg_iterations=[])

        def load():
            with np.load(folder / "solution.npz") as data:
                return Mesh(str(folder / "mesh.vol")), data["vectors"]

        return FieldSolution(spec, meta["contacts"], z, report, load)
    geometry, mesh, vectors, z, t, ndof, iterations = _solve_fresh(spec, progress, threads)
    t["total"] = time.perf_counter() - t_start
    report = RunReport(key=key, cache_hit=False, ndof=ndof, n_elements=mesh.ne, n_contacts=len(geometry.contacts),
                       mesh_scale=t.pop("mesh_scale"), mesher_messages=t.pop("messages"), seconds=t,
                       peak_memory_mb=_peak_mb(), cg_iterations=iterations, geometry_notes=geometry.notes)
    if use_cache:
        _store(folder, spec, report, mesh, vectors, z, {"contacts": geometry.contacts, "ndof": ndof,
                                                         "n_elements": mesh.ne, "mesh_scale": report.mesh_scale,
                                                         "geometry_notes": geometry.notes,
                                                         "mesher_messages": report.mesher_messages})
    return FieldSolution(spec, geometry.contacts, z, report, lambda: (mesh, vectors))


def _cache_folder(key: str) -> Path:
    return cache_dir() / "fields" / key


def _store(folder: Path, spec: FieldSpec, report: RunReport, mesh, vectors, z, meta: dict) -> None:
    """Write a solution into a private folder and rename it into place: a reader (another process
    sharing the cache) sees a whole entry or none."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{os.getpid()}.tmp"
    tmp.mkdir(exist_ok=True)
    mesh.ngmesh.Save(str(tmp / "mesh.vol"))
    np.savez(tmp / "solution.npz", vectors=vectors, impedance_ohm=z)
    (tmp / "spec.json").write_text(spec.model_dump_json(indent=2))
    (tmp / "report.json").write_text(report.model_dump_json(indent=2))
    (tmp / "meta.json").write_text(json.dumps(meta))
    try:
        tmp.rename(folder)
    except OSError:  # another process stored the same solution first
        shutil.rmtree(tmp, ignore_errors=True)


def worker() -> None:
    """A field-solving process of ``solve_many``: one FieldSpec (JSON) on standard input and its thread count as
    the first argument, its run report (JSON) as the last line of standard output; the solution goes into the
    shared disk cache."""
    from ngsolve import SetNumThreads

    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    SetNumThreads(threads)  # the workers share the cores
    spec = FieldSpec.model_validate_json(sys.stdin.read())
    try:
        report = solve(spec, threads=threads).report
    except RuntimeError as err:
        print(json.dumps({"error": str(err)}))
        raise SystemExit(1) from err
    print(report.model_dump_json())


def field_time_limit_s() -> float:
    """DRGSIM_FIELD_TIME_LIMIT_S, or ``FIELD_TIME_LIMIT_S``."""
    raw = os.environ.get("DRGSIM_FIELD_TIME_LIMIT_S")
    try:
        limit = float(raw) if raw else FIELD_TIME_LIMIT_S
    except ValueError:
        limit = float("nan")
    if not limit > 0:
        raise ValueError(f"DRGSIM_FIELD_TIME_LIMIT_S={raw!r}: allowed: a number of seconds > 0")
    return limit


def _solve_in_worker(spec: FieldSpec, threads: int, limit_s: float) -> RunReport:
    """``worker`` in a fresh interpreter, stopped after ``limit_s``: a subprocess rather than multiprocessing, so
    nothing of the caller's main module is re-imported and NGSolve's threads never meet a fork."""
    try:
        proc = subprocess.run([sys.executable, "-c", "from drgsim.fields.solve import worker; worker()", str(threads)],
                              input=spec.model_dump_json(), capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"building, meshing and solving the {spec.geometry.model} model did not finish within "
                           f"{limit_s:g} s (DRGSIM_FIELD_TIME_LIMIT_S) and was stopped; a geometry the mesher cannot "
                           f"finish: try --quality quick, or report the patient file") from None
    lines = proc.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        out = {}
    if proc.returncode != 0 or "error" in out:
        raise RuntimeError(out.get("error") or f"field worker exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return RunReport.model_validate(out)


def solve_many(specs: dict[str, FieldSpec], workers: int | None = None, progress=None) -> list[RunReport]:
    """Solve the distinct, not yet cached fields of ``specs`` (label -> spec) into the disk cache, each in a
    worker process stopped after ``field_time_limit_s()``, ``workers`` at a time (default: one per core;
    Netgen meshes serially, so independent fields share the cores best as separate processes) with the cores
    shared among them. ``progress(done, total)`` is called before the first starts (the cached ones done) and as
    each finishes, over the distinct fields; a failure is raised as a
    RuntimeError naming the label; a mesh that needed a retry is logged (``drgsim.fields``). Returns the run
    reports."""
    distinct = {}
    for label, s in specs.items():
        distinct.setdefault(s.key(), (label, s))
    todo = [(label, s) for key, (label, s) in distinct.items() if not (_cache_folder(key) / "solution.npz").exists()]
    cached = len(distinct) - len(todo)
    if progress:
        progress(cached, len(distinct))
    if not todo:
        return []
    limit = field_time_limit_s()
    cores = len(os.sched_getaffinity(0))
    workers = max(1, min(len(todo), workers or cores))
    threads = max(1, cores // workers)
    reports = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(_solve_in_worker, s, threads, limit): label for label, s in todo}
        for future in concurrent.futures.as_completed(futures):
            report = _labelled(futures[future], future.result)
            if report.mesh_scale < 1:
                log.warning("%s: meshed at element sizes x%g after the mesher failed at the sizes asked for (%s)",
                            futures[future], report.mesh_scale, report.mesher_messages[0])
            reports.append(report)
            if progress:
                progress(cached + len(reports), len(distinct))
    return reports


def _labelled(label: str, fn, *args):
    try:
        return fn(*args)
    except RuntimeError as err:
        raise RuntimeError(f"{label}: {err}") from err


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
