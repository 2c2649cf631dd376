"""``drgsim cohort run`` and ``report`` as a user calls them, at --quality quick: a LocalCluster run that is
interrupted (Ctrl-C) and resumed, a rerun that reuses everything, a loopback cluster (a ``dask scheduler``
and two ``dask worker`` processes) with a worker killed mid-run giving the same numbers, bad input."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drgsim.cohort.run import read_rows

pytestmark = pytest.mark.slow
SEED = 13  # its first patient needs two DRG leads (the DRG arm outlasts the SCS arm's one lead)
COHORT = ["--seed", SEED, "--quality", "quick"]
CONTRACT = {"n_patients", "completed", "reused", "failed", "seconds", "out"}


def _drgsim(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "drgsim", *map(str, args)], capture_output=True, text=True,
                          env=env, **kw)


def _popen(*args, env=None):
    # Ctrl-C reaches the run however the suite was started (a shell's background job ignores SIGINT, and
    # Python then installs no KeyboardInterrupt handler in its children)
    return subprocess.Popen([sys.executable, "-m", "drgsim", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(condition, timeout_s, proc=None):
    t0 = time.time()
    while not condition():
        assert time.time() - t0 < timeout_s, "timed out"
        assert proc is None or proc.poll() is None, proc.communicate() if proc else ""
        time.sleep(0.5)


def _results(out: Path) -> list[Path]:
    return sorted((out / "results").glob("*.parquet"))


def _numbers(rows):
    return {(r["index"], r["arm"]): {k: v for k, v in r.items() if k not in ("seconds", "trial_seconds")} for r in rows}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """One patient (two patient-arms) on a LocalCluster, interrupted once the first result is written, then
    resumed."""
    tmp = tmp_path_factory.mktemp("cohort")
    out = tmp / "local"
    env = {**os.environ, "DRGSIM_CACHE_DIR": str(tmp / "cache")}
    proc = _popen("cohort", "run", "--n", 1, "--out", out, *COHORT, "--json", env=env)
    _wait_for(lambda: _results(out), 900, proc)
    kept = {p: p.stat().st_mtime_ns for p in _results(out)}
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    interrupted = proc.returncode
    r = _drgsim("cohort", "run", "--n", 1, "--out", out, *COHORT, "--json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"out": out, "env": env, "kept": kept, "interrupted": interrupted, "interrupt_err": err,
            "summary": json.loads(r.stdout)}


def test_an_interrupted_run_keeps_what_finished_and_resumes(local):
    assert local["interrupted"] == 130, local["interrupt_err"][-2000:]
    assert "finished patient-arms are kept" in local["interrupt_err"]
    for p, mtime in local["kept"].items():  # resuming recomputed nothing that had finished
        assert p.stat().st_mtime_ns == mtime
    s = local["summary"]
    assert CONTRACT <= set(s) and s["n_patients"] == 1 and s["failed"] == 0
    assert s["completed"] + s["reused"] == 1 and s["completed"] == 1
    assert len(_results(local["out"])) == 2


def test_a_second_identical_call_reuses_everything(local):
    before = {p: p.stat().st_mtime_ns for p in _results(local["out"])}
    r = _drgsim("cohort", "run", "--n", 1, "--out", local["out"], *COHORT, "--json", env=local["env"])
    s = json.loads(r.stdout)
    assert r.returncode == 0 and s["reused"] == 1 and s["completed"] == 0 and s["failed"] == 0
    assert {p: p.stat().st_mtime_ns for p in _results(local["out"])} == before


def test_report_contract(local):
    r = _drgsim("cohort", "report", local["out"], "--json", env=local["env"])
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout)
    for arm in ("drg", "scs"):
        a = rep[arm]
        for key in ("responder_pct", "responder_ci95", "pain_coverage_pct_median", "off_target_pct_median",
                    "posture_spread_pct_median", "average_current_ua_median"):
            assert key in a, key
        lo, hi = a["responder_ci95"]
        assert 0 <= lo <= a["responder_pct"] <= hi <= 100
        assert a["responder_pct"] <= a["trial_success_pct"]  # the endpoint needs the trial passed as well
    rows = rep["comparison"]
    assert {c["used_for"] for c in rows} == {"calibration", "hold-out"}
    for c in rows:
        assert {"study", "measure", "published", "simulated", "used_for"} <= set(c)
    assert {c["arm"] for c in rows if c["used_for"] == "calibration"} == {"drg", "scs"}
    assert {c["arm"] for c in rows if c["measure"] == "trial_success_pct"} == {"drg", "scs"}
    page = local["out"] / "report" / "report.html"
    assert page.is_file() and "ACCURATE" in page.read_text()
    assert all((local["out"] / "report" / f).stat().st_size > 1000 for f in
               ("responders.png", "coverage_vs_relief.png", "posture_spread.png"))


def test_bad_input_exits_2_and_touches_no_result(local, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in _results(local["out"])}
    cases = [
        (["--n", 0, "--out", tmp_path / "a", *COHORT], "--n"),
        (["--n", 1, "--out", local["out"], "--seed", SEED + 1, "--quality", "quick"], "seed"),
        (["--n", 1, "--out", local["out"], "--seed", SEED, "--quality", "standard"], "quality"),
        (["--n", 1, "--out", "/proc/drgsim-cohort", *COHORT], "cannot write"),
        (["--n", 1, "--out", tmp_path / "b", *COHORT, "--scheduler", "tcp://127.0.0.1:9"], "--scheduler"),
        (["--n", 1, "--out", tmp_path / "c", *COHORT, "--quality", "best"], "--quality"),
    ]
    for args, named in cases:
        r = _drgsim("cohort", "run", *args, "--json", env=local["env"], timeout=120)
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert named in json.loads(r.stdout)["error"], (args, r.stdout)
        assert "Traceback" not in r.stderr
    assert {p: p.stat().st_mtime_ns for p in _results(local["out"])} == before
    r = _drgsim("cohort", "report", tmp_path / "nothing", "--json")
    assert r.returncode == 2 and "cohort.json" in json.loads(r.stdout)["error"]
    old = tmp_path / "old"  # a folder written before the trial phase (rows schema 1) is refused by both
    old.mkdir()
    manifest = json.loads((local["out"] / "cohort.json").read_text())
    (old / "cohort.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "rows_schema"}))
    for cmd in (["run", "--n", 1, "--out", old, *COHORT], ["report", old]):
        r = _drgsim("cohort", *cmd, "--json", env=local["env"], timeout=120)
        assert r.returncode == 2 and "schema 1" in json.loads(r.stdout)["error"], r.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_loopback_cluster_with_a_killed_worker_gives_the_same_numbers(local, tmp_path):
    """The first patient again, on a scheduler and two worker processes of their own. Their cache holds
    only the LocalCluster run's field solutions (the content-hash cache shared, as on a cluster's file
    system), so every threshold table is recomputed; one worker is killed while both run their task."""
    shutil.copytree(Path(local["env"]["DRGSIM_CACHE_DIR"]) / "fields", tmp_path / "cache" / "fields")
    env = {**os.environ, "DRGSIM_CACHE_DIR": str(tmp_path / "cache")}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        for _ in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address,
                                           "--nworkers", "1", "--nthreads", "1", "--no-nanny"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out = tmp_path / "loopback"
        run = _popen("cohort", "run", "--n", 1, "--out", out, *COHORT, "--scheduler", address, "--json", env=env)
        # both workers are running their task (one arm each) once the first table is written
        _wait_for(lambda: any((tmp_path / "cache").glob("thresholds/*.npz")), 600, run)
        procs[1].kill()
        stdout, stderr = run.communicate(timeout=1200)
        assert run.returncode == 0, stderr[-3000:]
        s = json.loads(stdout)
        assert s["completed"] == 1 and s["failed"] == 0
        local_rows = _numbers(r for r in read_rows(local["out"]) if r["index"] == 0)
        assert _numbers(read_rows(out)) == local_rows
    finally:
        for p in procs:
            p.kill()
