"""DRG versus SCS for a clinic patient: ``drgsim.therapy.compare`` on the patient's current pain map
(mean anatomy, as the predictions), run in the background one at a time because a cold run takes
minutes; the report, its figures and ``summary.json`` (``drgsim.therapy.report.write_outputs``, with the pain
map) are written under the data directory."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from drgsim.anatomy.painmap import PainMap
from drgsim.clinic.db import data_dir

log = logging.getLogger(__name__)


def report_dir(patient_id: int) -> Path:
    return data_dir() / "reports" / f"patient-{patient_id}"


def _run(patient_id: int, pain: PainMap, quality: str) -> None:
    from drgsim.clinic.predict import clinic_patient
    from drgsim.therapy.compare import compare
    from drgsim.therapy.report import write_outputs

    t0 = time.perf_counter()
    cmp = compare(clinic_patient(pain), quality)
    write_outputs(cmp, report_dir(patient_id), time.perf_counter() - t0, extra={"pain": dict(pain.nrs)})


class Comparisons:
    """One background worker; at most one run per patient at a time."""

    def __init__(self, quality: str):
        self.quality = quality
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drgsim-compare")
        self._jobs: dict[int, Future] = {}
        self._lock = threading.Lock()

    def start(self, patient_id: int, pain: PainMap) -> None:
        with self._lock:
            job = self._jobs.get(patient_id)
            if job is None or job.done():
                self._jobs[patient_id] = self._pool.submit(_run, patient_id, pain, self.quality)

    def status(self, patient_id: int) -> tuple[str, str | None]:
        """('running' | 'failed' | 'done' | 'none', error)."""
        job = self._jobs.get(patient_id)
        if job is not None and not job.done():
            return "running", None
        if job is not None and job.exception() is not None:
            log.error("comparison for patient %s failed: %s", patient_id, job.exception())
            return "failed", str(job.exception())
        return ("done", None) if (report_dir(patient_id) / "summary.json").exists() else ("none", None)

    def summary(self, patient_id: int) -> dict | None:
        path = report_dir(patient_id) / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
