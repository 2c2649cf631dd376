"""The DRG-vs-SCS comparison's progress: the worker's progress file, read back by ``Comparisons`` and shown
on the compare panel (the compare itself runs in a spawned worker; here a fake job stands in)."""

from __future__ import annotations

import json
import time
from concurrent.futures import Future

from drgsim.clinic.reports import PROGRESS, Comparisons, ProgressFile, read_progress, report_dir


def test_the_progress_file_follows_the_stages(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path))
    path = report_dir(7) / PROGRESS
    progress = ProgressFile(path, every_s=60.0)
    progress("DRG fields", 0, 2)
    assert json.loads(path.read_text()) == {"stage": "DRG fields", "stage_no": 1, "stages": 8, "done": 0,
                                            "total": 2, "elapsed_s": json.loads(path.read_text())["elapsed_s"]}
    progress("DRG fields", 1, 2)  # within every_s, neither start nor end: not written
    assert read_progress(7)["done"] == 0
    progress("DRG fields", 2, 2)
    assert read_progress(7)["done"] == 2
    progress("DRG optimizer: configurations", 3, 40)
    got = read_progress(7)
    assert (got["stage"], got["stage_no"], got["done"], got["total"]) == ("DRG optimizer: configurations", 2, 3, 40)
    assert got["elapsed_s"] >= 0 and not list(path.parent.glob("*.tmp"))


def test_status_and_progress_of_a_running_comparison(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path))
    c = Comparisons("quick")
    try:
        assert c.status(3) == ("none", None) and c.progress(3) is None and read_progress(3) is None
        running: Future = Future()
        c._jobs[3] = running  # a comparison under way in the worker
        ProgressFile(report_dir(3) / PROGRESS)("SCS fields", 1, 4)
        assert c.status(3) == ("running", None)
        assert c.progress(3)["stage"] == "SCS fields" and c.progress(3)["done"] == 1
        running.set_exception(RuntimeError("meshing failed"))
        assert c.status(3) == ("failed", "meshing failed") and c.progress(3) is None
        finished: Future = Future()
        finished.set_result(None)
        c._jobs[3] = finished
        (report_dir(3) / "summary.json").write_text("{}")
        assert c.status(3) == ("done", None) and c.summary(3) == {}
    finally:
        c.close()


def test_start_runs_in_a_worker_process_and_close_does_not_hang(tmp_path, monkeypatch):
    """An unknown quality fails at once in the worker: the failure comes back to ``status``."""
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path))
    c = Comparisons("best")
    try:
        ProgressFile(report_dir(5) / PROGRESS)("old", 1, 1)
        c.start(5, None)
        assert read_progress(5) is None  # a new run forgets the last one's progress
        deadline = time.monotonic() + 300
        while c.status(5)[0] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        state, error = c.status(5)
        assert state == "failed" and "best" in error
    finally:
        t0 = time.monotonic()
        c.close()
        assert time.monotonic() - t0 < 5
