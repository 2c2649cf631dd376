"""DRG versus SCS for a clinic patient: ``drgsim.therapy.compare`` on the patient's current pain map
(mean anatomy, as the predictions), run one at a time in a worker process (never in the web server's
process) because a cold run takes minutes; the worker writes its progress to ``progress.json`` and the
report, its figures and ``summary.json`` (``drgsim.therapy.report.write_outputs``, with the pain map)
under the data directory."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from drgsim.anatomy.painmap import PainMap
from drgsim.clinic.db import data_dir

log = logging.getLogger(__name__)

PROGRESS = "progress.json"


def report_dir(patient_id: int) -> Path:
    return data_dir() / "reports" / f"patient-{patient_id}"


class ProgressFile:
    """``progress(what, done, total)`` (the callback ``drgsim.therapy.compare.compare`` takes), written as
    ``{"stage", "stage_no", "stages", "done", "total", "elapsed_s"}`` to ``path`` (replaced atomically, at most
    every ``every_s`` seconds unless a stage starts or ends)."""

    STAGES = 8  # per system: fields, optimizer (configurations, pulse widths), outcomes (as drgsim.therapy.cli)

    def __init__(self, path: Path, every_s: float = 0.5):
        self.path, self.every_s = path, every_s
        self.t0 = time.perf_counter()
        self._last: tuple[str, float] = ("", -1.0)
        self._seen: list[str] = []

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        stage, when = self._last
        if what == stage and done not in (0, total) and now - when < self.every_s:
            return
        self._last = (what, now)
        if what not in self._seen:
            self._seen.append(what)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stage": str(what), "stage_no": len(self._seen),
                                   "stages": max(self.STAGES, len(self._seen)), "done": int(done),
                                   "total": int(total), "elapsed_s": round(now - self.t0, 1)}))
        os.replace(tmp, self.path)


def read_progress(patient_id: int) -> dict | None:
    """The running comparison's last progress (``ProgressFile``), or None."""
    try:
        return json.loads((report_dir(patient_id) / PROGRESS).read_text())
    except (OSError, ValueError):
        return None


def _run(out: str, pain: PainMap, quality: str, env: dict[str, str]) -> None:
    """One comparison, in the worker process."""
    from drgsim.clinic.predict import _set_env, clinic_patient
    from drgsim.therapy.compare import compare
    from drgsim.therapy.report import write_outputs

    _set_env(env)
    t0 = time.perf_counter()
    where = Path(out)
    cmp = compare(clinic_patient(pain), quality, progress=ProgressFile(where / PROGRESS))
    write_outputs(cmp, where, time.perf_counter() - t0, extra={"pain": dict(pain.nrs)})


class Comparisons:
    """One worker process, replaced after every comparison (``max_tasks_per_child=1``: a comparison builds
    two systems' fields and tables, gigabytes, which a fresh process hands back); at most one run per
    patient at a time."""

    def __init__(self, quality: str):
        self.quality = quality
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: dict[int, Future] = {}
        self._lock = threading.Lock()

    def start(self, patient_id: int, pain: PainMap) -> None:
        from drgsim.clinic.predict import _env

        with self._lock:
            job = self._jobs.get(patient_id)
            if job is None or job.done():
                if self._pool is None:  # created at first use, so it sees the environment of that moment
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                     max_tasks_per_child=1)
                out = report_dir(patient_id)
                (out / PROGRESS).unlink(missing_ok=True)
                self._jobs[patient_id] = self._pool.submit(_run, str(out), pain, self.quality, _env())

    def status(self, patient_id: int) -> tuple[str, str | None]:
        """('running' | 'failed' | 'done' | 'none', error)."""
        job = self._jobs.get(patient_id)
        if job is not None and not job.done():
            return "running", None
        if job is not None and not job.cancelled() and job.exception() is not None:
            log.error("comparison for patient %s failed: %s", patient_id, job.exception())
            return "failed", str(job.exception())
        return ("done", None) if (report_dir(patient_id) / "summary.json").exists() else ("none", None)

    def progress(self, patient_id: int) -> dict | None:
        """The running comparison's progress (stage, done, total, elapsed_s), or None when none is running."""
        return read_progress(patient_id) if self.status(patient_id)[0] == "running" else None

    def summary(self, patient_id: int) -> dict | None:
        path = report_dir(patient_id) / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None

    def close(self) -> None:
        """Stop the worker: a running comparison is stopped with its process."""
        from drgsim.clinic.predict import _stop

        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            _stop(pool)
