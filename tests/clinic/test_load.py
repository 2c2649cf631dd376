"""The issue's load target on loopback: 20 concurrent patients for 60 s (amplitude changes and page
loads through the phone controller) on SQLite, p95 latency < 100 ms and no errors.

Runs ``benchmarks/load_clinic.py`` (a uvicorn subprocess on 127.0.0.1, stopped at the end); about
75 s with the set-up, so it is marked slow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "load_clinic.py"
USERS, SECONDS, THINK_S = 20, 60.0, (0.2, 0.6)


def _load_module():
    spec = importlib.util.spec_from_file_location("drgsim_bench_load_clinic", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic models and dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_twenty_patients_for_a_minute(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path / "data"))  # the server gets its own below too
    monkeypatch.delenv("DRGSIM_DATABASE_URL", raising=False)
    bench = _load_module()
    report = bench.run_load(users=USERS, seconds=SECONDS, think_s=THINK_S, seed=0)
    print(report.model_dump_json(indent=2))
    assert report.database == "sqlite"
    assert report.errors == 0, report.error_messages
    assert report.sign_in.count == USERS and report.sign_in.errors == 0
    # each user taps at least once per (longest think time + 0.1 s) when the requests are fast
    lower = USERS * SECONDS / (THINK_S[1] + 0.1)
    assert report.requests > lower, f"{report.requests} requests in {SECONDS} s; expected > {lower:.0f}"
    assert all(s.count > 0 for s in report.per_kind.values()), report.per_kind
    assert report.refusals <= report.requests // 100  # the walk stays inside the patient range
    assert report.overall.p95_ms < 100.0, report.overall
    assert report.passed
