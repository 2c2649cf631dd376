"""Running a cohort on Dask (``dask.distributed``): one task per patient and arm, results kept per task.

A task follows one patient through one arm's procedure and returns one flat row: the trial phase (the
temporary leads, ``CohortPatient.trial``, planned and programmed by the optimizer in the programming
posture, whose coverage decides the end-of-trial criterion) and the permanent implant (new leads,
planned, programmed and evaluated in the four postures at follow-up: ``therapy.compare.run_system``).
The client writes the row to ``results/<index>-<arm>.parquet`` as soon as it arrives (written to a
temporary name, then renamed), so a rerun skips finished tasks, Ctrl-C loses nothing finished and a
killed worker loses only its running task (the scheduler reruns it elsewhere). Field solutions and
threshold tables go through the content-hash cache (``DRGSIM_CACHE_DIR``), which workers on one machine
or a shared file system share. A task per patient
and arm balances better than one per threshold table: a table's cells, fields and cell sets are built
once per site and patient, and a patient-arm is the largest unit with no shared state. Measured on 2 local
workers, a 12-patient quick cohort's 24 tasks (137-318 s each) kept them 97% busy: finer tasks could win
at most the other 3%.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from drgsim import __version__
from drgsim.cohort.population import ARMS, CohortConfig, CohortPatient, draw_cohort

MANIFEST = "cohort.json"
ROWS_SCHEMA = 2  # what a row holds; 2: the trial phase's numbers (a folder of another schema is refused)
RESULTS = "results"
FAILED = "failed"


class CohortError(ValueError):
    """Bad input to a cohort run or report: the message names the option, the value and what is allowed."""


class RunSummary(BaseModel):
    n_patients: int
    completed: int  # patients finished by this call
    reused: int  # patients already finished in the folder
    failed: int  # patients with an arm that raised (its error under failed/)
    seconds: float
    out: str
    dashboard: str | None = None


def row(cp: CohortPatient, arm: str, result) -> dict:
    """The flat numbers a cohort keeps of one arm of one patient (``therapy.compare.SystemResult``)."""
    out = result.outcome
    ref = out.posture(result.optimization.config.posture)
    coverage = {p.posture.value: p.pain_coverage_pct for p in out.postures}
    return {
        "index": cp.index, "patient_id": cp.patient.id, "patient_hash": cp.patient.content_hash(),
        "seed": cp.patient.seed, "arm": arm, "randomized_arm": cp.randomized_arm,
        "diagnosis": cp.patient.history.diagnosis.value, "pain_groups": ",".join(cp.pain_groups),
        "pain_map": cp.patient.pain_map.to_text(), "leads": len(result.implant.leads),
        "target_met": result.optimization.target_met,
        "pain_coverage_pct": ref.pain_coverage_pct, "off_target_pct": ref.off_target_pct,
        **{f"pain_coverage_pct_{k}": v for k, v in coverage.items()},
        "pain_coverage_pct_mean": sum(coverage.values()) / len(coverage),
        "coverage_spread_pct": out.coverage_spread_pct,
        "posture_spread_pct": out.posture_spread_pct,
        "perception_threshold_ma": ref.perception_threshold_ma,
        "paresthesia_area_ratio": ref.paresthesia_area_ratio, "abeta_activated": ref.abeta_activated,
        "motor_activated": ref.motor_activated, "average_current_ua": ref.average_current_ua,
        "battery_years": ref.battery_years, "primary_cell_years": result.primary_cell_years,
    }


def trial_phase(patient, system, q, cfg):
    """The trial's temporary leads: planned, their fields solved in the programming posture only, and
    programmed by the optimizer (``therapy.optimize.OptimizationResult``)."""
    from drgsim.therapy.model import TherapyModel, plan_implant
    from drgsim.therapy.optimize import optimize

    model = TherapyModel(patient, plan_implant(patient, system, kind="trial"), q)
    model.solve_fields(postures=(cfg.posture,))
    return optimize(model, cfg)


def simulate_arm(cp_json: str, arm: str, quality_name: str, threads: int | None) -> dict:
    """One task: one arm of one patient (trial phase, then permanent implant), at ``quality_name``, on
    ``threads`` kernel threads."""
    import numba

    from drgsim.therapy.compare import run_system
    from drgsim.therapy.model import System, quality
    from drgsim.therapy.optimize import OptimizerConfig

    if threads:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    cp = CohortPatient.model_validate_json(cp_json)
    q, cfg = quality(quality_name), OptimizerConfig()
    t0 = time.perf_counter()
    trial = trial_phase(cp.trial, System(arm), q, cfg)
    t_trial = time.perf_counter() - t0
    result, _ = run_system(cp.patient, System(arm), q, cfg)
    return {**row(cp, arm, result), "trial_patient_hash": cp.trial.content_hash(),
            "trial_target_met": trial.target_met, "trial_pain_coverage_pct": trial.pain_coverage_pct,
            "trial_off_target_pct": trial.off_target_pct, "trial_seconds": round(t_trial, 2),
            "seconds": round(time.perf_counter() - t0, 2), "drgsim_version": __version__}


def result_path(out: Path, index: int, arm: str, folder: str = RESULTS, suffix: str = ".parquet") -> Path:
    """Where a patient-arm's row (or, with ``FAILED`` and ".json", its error) is kept."""
    return out / folder / f"{index:05d}-{arm}{suffix}"


def write_row(path: Path, values: dict) -> None:
    """One result, atomically: a reader never sees half a file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pylist([values]), tmp)
    os.replace(tmp, path)


def read_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [pq.read_table(p).to_pylist()[0] for p in sorted((out / RESULTS).glob("*.parquet"))]


def check_folder(config: CohortConfig, out: Path) -> None:
    """A folder holds one cohort: another seed, quality or population is refused before anything is
    written; so is a folder that cannot be written."""
    manifest = out / MANIFEST
    if manifest.exists():
        old = read_manifest(out, "--out")
        for field in ("seed", "quality", "population"):
            if getattr(old, field) != getattr(config, field):
                raise CohortError(f"--out={str(out)!r} holds a cohort with {field}={_show(old, field)}, not "
                                  f"{_show(config, field)}: use another folder or the same {field}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise CohortError(f"--out={str(out)!r}: cannot write there ({err.strerror or err})") from None


def read_manifest(out: Path, option: str) -> CohortConfig:
    """The cohort a folder holds; a manifest that is not one, or holds rows of another schema, is refused."""
    try:
        data = json.loads((out / MANIFEST).read_text())
        config = CohortConfig.model_validate(data["config"])
    except (ValueError, KeyError) as err:
        raise CohortError(f"{option}={str(out)!r}: {MANIFEST} is not a drgsim cohort manifest ({err})") from None
    schema = data.get("rows_schema", 1)
    if schema != ROWS_SCHEMA:
        raise CohortError(f"{option}={str(out)!r} holds results of rows schema {schema} (an older drgsim, without "
                          f"the trial phase); this drgsim writes schema {ROWS_SCHEMA}: use another folder")
    return config


def _show(config: CohortConfig, field: str) -> str:
    v = getattr(config, field)
    return v.model_dump_json() if isinstance(v, BaseModel) else repr(v)


def _write_manifest(config: CohortConfig, out: Path) -> None:
    manifest = out / MANIFEST
    n = config.n
    if manifest.exists():
        n = max(n, json.loads(manifest.read_text())["config"]["n"])
    body = {"config": config.model_copy(update={"n": n}).model_dump(mode="json"), "rows_schema": ROWS_SCHEMA,
            "drgsim_version": __version__}
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, manifest)


def _client(scheduler: str | None, workers: int):
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers`` processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as err:
            raise CohortError(f"--scheduler={scheduler!r}: cannot reach a Dask scheduler there ({err})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_cohort(config: CohortConfig, out: Path, scheduler: str | None = None, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               on_client: Callable[[str | None], None] | None = None) -> RunSummary:
    """Run every unfinished patient-arm of the cohort into ``out`` (see the module docstring).
    ``progress(done, total)`` follows the tasks; ``on_client(dashboard)`` is called once the cluster is up."""
    t0 = time.perf_counter()
    check_folder(config, out)
    patients = draw_cohort(config)
    todo = [(cp, arm) for cp in patients for arm in ARMS if not result_path(out, cp.index, arm).exists()]
    pending = {cp.index for cp, _ in todo}
    failed: set[int] = set()
    client = cluster = dashboard = None
    cores = len(os.sched_getaffinity(0))
    workers = workers or cores
    if todo:
        client, cluster = _client(scheduler, workers)  # an unreachable scheduler is refused before any write
    _write_manifest(config, out)
    if client:
        dashboard = client.dashboard_link
        if on_client:
            on_client(dashboard)
        threads = max(1, cores // workers) if cluster else None
        try:
            failed = _gather(client, todo, config.quality, threads, out, progress)
        finally:
            client.close()
            if cluster:
                cluster.close()
    return RunSummary(n_patients=len(patients), completed=len(pending - failed), reused=len(patients) - len(pending),
                      failed=len(failed), seconds=round(time.perf_counter() - t0, 1), out=str(out), dashboard=dashboard)


def _gather(client, todo, quality_name: str, threads: int | None, out: Path, progress) -> set[int]:
    from dask.distributed import as_completed

    futures = {client.submit(simulate_arm, cp.model_dump_json(), arm, quality_name, threads, pure=False,
                             key=f"cohort-{cp.patient.id}-{arm}-{time.time_ns()}"): (cp, arm) for cp, arm in todo}
    failed: set[int] = set()
    done = 0
    for future in as_completed(futures):
        cp, arm = futures[future]
        error = result_path(out, cp.index, arm, FAILED, ".json")
        if future.status == "finished":
            write_row(result_path(out, cp.index, arm), future.result())
            error.unlink(missing_ok=True)
        else:
            failed.add(cp.index)
            error.parent.mkdir(exist_ok=True)
            error.write_text(json.dumps({"patient_id": cp.patient.id, "arm": arm, "error": repr(future.exception())}))
        done += 1
        if progress:
            progress(done, len(todo))
    return failed
