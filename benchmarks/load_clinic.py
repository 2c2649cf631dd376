"""Load test of the clinic web application on loopback: simulated patients using the phone controller.

Run:  python3 benchmarks/load_clinic.py [--users 20] [--seconds 60] [--login-flood N] [--database-url URL]
          [--json out.json]

What it measures: the clinic (``drgsim.clinic.app``) is served by uvicorn in a subprocess on
127.0.0.1 (a free port; one process, as ``drgsim serve`` runs it) over a fresh SQLite database in
a temporary folder, or over ``--database-url`` (e.g. a scratch PostgreSQL database: the run adds
its own clinician and patients to it). The database is migrated and seeded through
``drgsim.clinic.service``: one clinician and one patient per simulated user, each walked through
the pathway (pain map, plan, trial with a 7-day diary, decision, implant, program P1 on two leads
at 0.5 mA with a 0.1-3.0 mA patient range, therapy on). Each simulated user signs in once through
the JSON API (``POST /api/v1/session``; the Argon2 sign-ins are timed apart, as ``sign_in``), then
for ``--seconds`` taps the controller as a patient would, with a random think time between taps:
the controller page (``GET /patient``), an amplitude step from the page (HTMX ``POST
/patient/amplitude``), an amplitude step through the API (``POST /api/v1/patients/{id}/amplitude``)
and a device read (``GET /api/v1/patients/{id}/device``). Amplitude steps walk up and down within a
band of +-8 device steps around 0.5 mA, far inside the patient range, so the device refuses none.
Latency is each request's wall time at the client (``time.perf_counter``, connection kept alive),
loopback included; the load generator shares the machine's cores with the server.

With ``--login-flood N`` a second window of ``--seconds`` follows the first, with N wrong-password sign-ins
per second for the clinician's account from other clients (each attempt from its own address, in
``X-Forwarded-For``, which the server trusts from loopback as from a reverse proxy): the report gives the
controller's figures without and with the flood, the attempt at which the account locked (429 from then
on, ``drgsim.clinic.auth.SignInThrottle``), the right password refused during the lockout, and each
simulated patient signing in again while the flood goes on (all must succeed).

Errors: 5xx, timeouts, connection errors and any status or page other than expected. A device
refusal (409 from the API, a "refused" result on the page) is counted apart, not as an error.

Reference: there is no other tool to compare against here; the figures are absolute and are checked
against the issue's target for 20 concurrent users over 60 s: p95 latency < 100 ms over the
amplitude changes and page loads, and no errors; with a flood, the same p95 target during the flood,
the account locked and every other sign-in served. The verdict is printed; the exit status is 1 when
the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

HOST = "127.0.0.1"  # loopback only
TARGET_P95_MS = 100.0
PASSWORD = "load-test-pass-1"
PAIN = {"left_sole": 8, "left_heel": 7}
SCREENING = {"diagnosis": "crps_i", "neuropathic": True, "pain_duration_months": 18, "failed_drug_classes": 3,
             "failed_injections": True, "failed_therapy": True, "psych_screened": True, "bdi_ii": 14}  # eligible
TARGETS = [{"level": "L5", "side": "left"}, {"level": "S1", "side": "left"}]
LEAD = {"contacts": "0+-0", "amplitude_ma": 0.5, "pulse_width_us": 300, "frequency_hz": 20, "enabled": True,
        "min_amplitude_ma": 0.1, "max_amplitude_ma": 3.0}
BAND_STEPS = 8  # amplitude walk stays within +-8 device steps (+-0.2 mA) of the programmed 0.5 mA
# request kinds of the controller loop and how often a patient does each
MIX = {"page": 0.2, "amp_form": 0.35, "amp_api": 0.25, "device": 0.2}
LOAD_KINDS = tuple(MIX)  # the kinds the target is about (sign-in is reported apart)
REQUEST_TIMEOUT_S = 10.0
SERVER_START_S = 60.0
MAX_ERROR_MESSAGES = 10
MAX_FLOOD_RATE = 500.0  # wrong sign-ins per second the flooding client can send on schedule

SERVER = """
import os, uvicorn
from drgsim.clinic.app import create_app
uvicorn.run(create_app(os.environ["DRGSIM_LOAD_DATABASE_URL"], quality="quick"), host="127.0.0.1",
            port=int(os.environ["DRGSIM_LOAD_PORT"]), log_level="warning", proxy_headers=True,
            forwarded_allow_ips="127.0.0.1")
"""


class KindStats(BaseModel):
    """Latency figures (ms) of one request kind, or of all the load requests together."""

    count: int
    errors: int
    refusals: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class FloodReport(BaseModel):
    """The login flood of the second window and what the clinic answered it."""

    rate_per_s: float
    account: str  # the flooded username
    attempts: int
    answers: dict[str, int]  # HTTP status (or the error's name) -> count
    attempts_to_lock: int | None  # the first attempt (in the order sent) answered 429
    right_password_refused: bool  # the account's right password answered 429 during the flood
    others_signed_in: int  # simulated patients signing in again during the flood
    others_tried: int
    other_sign_in: KindStats
    overall: KindStats  # the controller's requests during the flood
    per_kind: dict[str, KindStats]


class LoadReport(BaseModel):
    users: int
    seconds: float
    elapsed_s: float  # the load window as run (until the last request of the window returned)
    requests: int  # load requests (sign-ins not included)
    errors: int  # load errors plus sign-in errors
    error_messages: list[str]
    refusals: int
    throughput_rps: float
    overall: KindStats
    per_kind: dict[str, KindStats]
    sign_in: KindStats
    database: str  # sqlite | postgresql
    target_p95_ms: float = TARGET_P95_MS
    passed: bool
    setup_s: float
    config: dict
    flood: FloodReport | None = None


@dataclass
class Sample:
    kind: str
    ms: float
    ok: bool
    refused: bool = False
    phase: str = "calm"  # calm | flood: the window the request started in


@dataclass
class Tally:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    window_start: float | None = None  # perf_counter when the load window opened
    phase: str = "calm"
    flood_answers: dict[str, int] = field(default_factory=dict)
    first_lock: int | None = None

    def add(self, kind: str, ms: float, ok: bool, refused: bool = False, message: str | None = None,
            phase: str | None = None) -> None:
        self.samples.append(Sample(kind, ms, ok, refused, phase or self.phase))
        if not ok:
            at = "sign-in" if self.window_start is None else f"{time.perf_counter() - self.window_start:.1f} s"
            self.errors.append(f"[{at}, {ms:.0f} ms] {message or kind}")


# ---------------------------------------------------------------- set-up
def seed_clinic(url: str, users: int, tag: str) -> tuple[list[tuple[str, int]], float]:
    """Migrate ``url`` and create a clinician and ``users`` implanted patients with therapy running.
    Returns [(username, patient id)] and the seconds it took."""
    from drgsim.anatomy.painmap import PainMap
    from drgsim.clinic import service
    from drgsim.clinic.db import make_engine, session_factory, upgrade
    from drgsim.clinic.schemas import (
        DecisionIn,
        DiaryIn,
        ImplantIn,
        LeadIn,
        PatientIn,
        PlanIn,
        ScreeningIn,
        TherapyIn,
        TrialIn,
    )

    t0 = time.perf_counter()
    upgrade(url)
    today = service.today()
    start = today - timedelta(days=21)
    engine = make_engine(url, pooled=False)
    made = []
    try:
        with session_factory(engine).begin() as db:
            clin = service.create_clinician(db, f"loadclin{tag}", PASSWORD, "Dr Load")
            for i in range(users):
                username = f"loadpat{tag}-{i + 1:03d}"
                p = service.create_patient(db, clin, PatientIn(
                    name=f"Load Patient {i + 1}", birth_year=1960 + i % 40, sex=("female", "male")[i % 2],
                    diagnosis="crps_i", username=username, password=PASSWORD))
                service.save_pain_map(db, clin, p.id, PainMap(nrs=PAIN))
                service.screen(db, clin, p.id, ScreeningIn(**SCREENING))  # a trial needs an eligible screening
                service.save_plan(db, clin, p.id, PlanIn(targets=TARGETS))
                service.start_trial(db, clin, p.id, TrialIn(start_date=start, baseline_nrs=8))
                for d in range(7):  # the patient keeps the diary
                    service.add_diary(db, p.user, p.id, DiaryIn(day=start + timedelta(days=d), nrs=3,
                                                                  activity_minutes=30 + 5 * d))
                service.decide(db, clin, p.id, DecisionIn(proceed=True, note="load test"))
                service.implant(db, clin, p.id, ImplantIn(implant_date=today - timedelta(days=7)))
                outcomes = [service.create_program(db, clin, p.id, "P1")]
                outcomes += [service.program_lead(db, clin, p.id, "P1", lead, LeadIn(**LEAD)) for lead in (1, 2)]
                outcomes.append(service.set_therapy(db, clin, p.id, TherapyIn(on=True, program="P1")))
                refused = [o.reason for o in outcomes if not o.accepted]
                if refused:
                    raise RuntimeError(f"seeding patient {username}: the device refused: {refused}")
                made.append((username, p.id))
    finally:
        engine.dispose()
    return made, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(url: str, data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """uvicorn serving the clinic on 127.0.0.1; returns the process and its base URL once /health answers."""
    port = free_port()
    env = {**os.environ, "DRGSIM_LOAD_DATABASE_URL": url, "DRGSIM_LOAD_PORT": str(port),
           "DRGSIM_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + SERVER_START_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if client.get(f"{base}/health").status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    stop_server(proc)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the clinic server did not answer {base}/health within {SERVER_START_S:.0f} s "
                       f"(exit status {proc.returncode}); its log ends:\n{tail}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ---------------------------------------------------------------- the simulated patients
async def sign_in(client: httpx.AsyncClient, username: str, tally: Tally, kind: str = "sign_in") -> str | None:
    t0 = time.perf_counter()
    try:
        r = await client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    except (httpx.HTTPError, ValueError) as err:
        tally.add(kind, (time.perf_counter() - t0) * 1e3, False, message=f"{kind} {username}: "
                  f"{type(err).__name__}: {err}")
        return None
    ms = (time.perf_counter() - t0) * 1e3
    token = r.json().get("csrf_token") if r.status_code == 200 and r.headers.get("content-type", "").startswith(
        "application/json") else None
    tally.add(kind, ms, token is not None, message=f"{kind} {username}: HTTP {r.status_code} {r.text[:200]}")
    return token


def check(kind: str, r: httpx.Response) -> tuple[bool, bool, str | None]:
    """(ok, refused, error message) of one controller response."""
    if kind == "amp_api":
        if r.status_code == 200 and r.json().get("accepted") is True:
            return True, False, None
        if r.status_code == 409:
            return True, True, None
    elif kind == "device":
        if r.status_code == 200 and r.json().get("status", {}).get("therapy_on") is True:
            return True, False, None
    elif r.status_code == 200 and 'id="controller"' in r.text and 'id="amp-1"' in r.text:
        return True, kind == "amp_form" and 'id="controller-result"' in r.text and 'class="refused"' in r.text, None
    return False, False, f"{kind}: HTTP {r.status_code} {r.text[:200]!r}"


async def patient(base: str, username: str, pid: int, deadline_at: asyncio.Event, start_at: asyncio.Event,
                  signed_in: list, tally: Tally, rng: random.Random, think_s: tuple[float, float],
                  max_requests: int, stagger_s: float) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    await asyncio.sleep(stagger_s)
    # the window's requests go on a new connection (the client is made now, so that 20 clients are not
    # made at once when the window opens): the sign-in connection is then idle for up to users x
    # stagger seconds, about uvicorn's keep-alive timeout (5 s), and the server might close it just as
    # the first request goes out
    client = httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as first:
        token = await sign_in(first, username, tally)
        client.cookies = first.cookies
    signed_in.append(username)
    if token is None:
        await client.aclose()
        return
    await start_at.wait()
    async with client:
        await asyncio.sleep(rng.uniform(*think_s))  # users do not all tap at the same instant
        kinds, weights = list(MIX), list(MIX.values())
        pos, direction = 0, rng.choice((1, -1))  # amplitude in device steps from the programmed value
        unsafe = {"X-CSRF-Token": token}
        htmx = {**unsafe, "HX-Request": "true", "HX-Target": "controller"}
        for _ in range(max_requests):
            if deadline_at.is_set():
                break
            kind = rng.choices(kinds, weights)[0]
            step = 0
            if kind in ("amp_form", "amp_api"):
                if abs(pos + direction) > BAND_STEPS or rng.random() < 0.3:
                    direction = -direction  # a patient goes up and down around a comfortable level
                step = direction
            phase, t0 = tally.phase, time.perf_counter()
            try:
                if kind == "page":
                    r = await client.get("/patient")
                elif kind == "device":
                    r = await client.get(f"/api/v1/patients/{pid}/device")
                elif kind == "amp_form":
                    r = await client.post("/patient/amplitude", data={"steps": str(step)}, headers=htmx)
                else:
                    r = await client.post(f"/api/v1/patients/{pid}/amplitude", json={"steps": step}, headers=unsafe)
                ms = (time.perf_counter() - t0) * 1e3
                ok, refused, message = check(kind, r)
            except (httpx.HTTPError, ValueError) as err:  # timeouts, connection errors, a body that is not JSON
                ms = (time.perf_counter() - t0) * 1e3
                ok, refused, message = False, False, f"{kind}: {type(err).__name__}: {err!r}"
            tally.add(kind, ms, ok, refused, message, phase)
            if ok and step and not refused:
                pos += step
            await asyncio.sleep(rng.uniform(*think_s))


async def flood(base: str, username: str, rate: float, stop: asyncio.Event, tally: Tally) -> None:
    """``rate`` wrong-password sign-ins per second for ``username`` until ``stop``, each from an address of
    its own (``X-Forwarded-For``), sent on schedule whether or not the earlier ones have been answered."""
    async def attempt(client: httpx.AsyncClient, i: int) -> None:
        address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        try:
            r = await client.post("/api/v1/session", json={"username": username, "password": f"wrong-guess-{i}"},
                                  headers={"X-Forwarded-For": address})
            answer = str(r.status_code)
        except httpx.HTTPError as err:
            answer = type(err).__name__
        tally.flood_answers[answer] = tally.flood_answers.get(answer, 0) + 1
        if answer == "429" and (tally.first_lock is None or i < tally.first_lock):
            tally.first_lock = i
        if answer not in ("401", "429"):
            tally.errors.append(f"login flood attempt {i}: {answer}")

    limits = httpx.Limits(max_connections=max(8, int(rate)), max_keepalive_connections=max(8, int(rate)))
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        pending, t0, i = [], time.perf_counter(), 0
        while not stop.is_set():
            i += 1
            pending.append(asyncio.create_task(attempt(client, i)))
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        await asyncio.gather(*pending)


async def sign_ins_during_flood(base: str, accounts: list[tuple[str, int]], flooded: str,
                                tally: Tally) -> bool:
    """Each simulated patient signs in again (new clients) while the flood goes on; then the flooded account
    with its right password. True when that one was refused with 429 (locked)."""
    for username, _ in accounts:
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
            await sign_in(client, username, tally, kind="other_sign_in")
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        r = await client.post("/api/v1/session", json={"username": flooded, "password": PASSWORD})
    return r.status_code == 429


async def window(progress: Progress, label: str, seconds: float, tally: Tally, tasks: list) -> float:
    """Let the simulated patients run for ``seconds`` (a progress bar); the seconds it took."""
    bar = progress.add_task(label, total=seconds, info="")
    t0 = time.perf_counter()
    while (now := time.perf_counter() - t0) < seconds and not all(t.done() for t in tasks):
        done = [s for s in tally.samples if s.kind in LOAD_KINDS and s.phase == tally.phase]
        progress.update(bar, completed=now, info=f"{len(done)} requests, {len(done) / max(now, 1e-9):.1f} req/s, "
                                                 f"{len(tally.errors)} errors")
        await asyncio.sleep(min(0.5, max(seconds - now, 0.0)))
    progress.update(bar, completed=seconds)
    return time.perf_counter() - t0


async def drive(base: str, accounts: list[tuple[str, int]], seconds: float, think_s: tuple[float, float],
                seed_: int, console: Console, flood_rate: float = 0.0,
                flooded: str | None = None) -> tuple[Tally, float, float, bool]:
    """The simulated patients for ``seconds``, then (``flood_rate`` > 0) for ``seconds`` more with the login
    flood on ``flooded``. Returns the tally, the calm and flood windows' lengths and whether the flooded
    account's right password was refused."""
    tally = Tally()
    start_at, deadline_at = asyncio.Event(), asyncio.Event()
    signed_in: list[str] = []
    rng = random.Random(seed_)
    # a bound on each user's requests besides the deadline: the window(s) at the shortest think time, doubled
    windows = 2 if flood_rate > 0 else 1
    max_requests = int(2 * windows * seconds / max(think_s[0], 0.05)) + 10
    stagger = 0.25  # Argon2 sign-ins (~0.2 s of CPU each), one every 250 ms
    tasks = [asyncio.create_task(patient(base, u, pid, deadline_at, start_at, signed_in, tally,
                                         random.Random(rng.getrandbits(64)), think_s, max_requests, i * stagger))
             for i, (u, pid) in enumerate(accounts)]
    flood_s, locked = 0.0, False
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        bar = progress.add_task("sign-in", total=len(accounts), info="")
        while len(signed_in) < len(accounts) and not all(t.done() for t in tasks):
            progress.update(bar, completed=len(signed_in), info=f"{len(signed_in)}/{len(accounts)} users")
            await asyncio.sleep(0.1)
        progress.update(bar, completed=len(accounts), info=f"{len(signed_in)}/{len(accounts)} users")
        tally.window_start = time.perf_counter()
        start_at.set()
        calm_s = await window(progress, "load", seconds, tally, tasks)
        if flood_rate > 0:
            tally.phase, stop = "flood", asyncio.Event()
            flooding = asyncio.create_task(flood(base, flooded, flood_rate, stop, tally))
            flood_s = await window(progress, f"load + {flood_rate:g} wrong sign-ins/s", seconds, tally, tasks)
            deadline_at.set()
            await asyncio.gather(*tasks)
            locked = await sign_ins_during_flood(base, accounts, flooded, tally)
            stop.set()
            await flooding
        deadline_at.set()
        await asyncio.gather(*tasks)
    return tally, calm_s, flood_s, locked


def stats(samples: list[Sample]) -> KindStats:
    ms = np.array([s.ms for s in samples], dtype=float)
    if ms.size == 0:
        return KindStats(count=0, errors=0, refusals=0, mean_ms=None, p50_ms=None, p95_ms=None, p99_ms=None,
                         max_ms=None)
    p50, p95, p99 = (round(float(x), 2) for x in np.percentile(ms, [50, 95, 99]))
    return KindStats(count=int(ms.size), errors=sum(not s.ok for s in samples),
                     refusals=sum(s.refused for s in samples),
                     mean_ms=round(float(ms.mean()), 2), p50_ms=p50, p95_ms=p95, p99_ms=p99,
                     max_ms=round(float(ms.max()), 2))


def run_load(users: int = 20, seconds: float = 60.0, database_url: str | None = None,
             think_s: tuple[float, float] = (0.2, 0.6), seed: int = 0, console: Console | None = None,
             login_flood: float = 0.0) -> LoadReport:
    """Serve the clinic on loopback and run ``users`` simulated patients for ``seconds`` (then ``seconds``
    more beside ``login_flood`` wrong sign-ins per second, when > 0); the figures."""
    if users < 1 or seconds <= 0 or not 0 <= think_s[0] <= think_s[1] or not 0 <= login_flood <= MAX_FLOOD_RATE:
        raise ValueError(f"users={users}, seconds={seconds}, think_s={think_s}, login_flood={login_flood}: need "
                         f"users >= 1, seconds > 0, 0 <= think min <= think max, 0 <= login flood <= "
                         f"{MAX_FLOOD_RATE:g} per second")
    console = console or Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="drgsim-load-") as tmp:
        tmp_path = Path(tmp)
        url = database_url or f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
        kind = "postgresql" if url.startswith(("postgres", "postgresql")) else url.split(":", 1)[0].split("+")[0]
        tag = "" if database_url is None else f"{int(time.time()) % 100000:05d}"  # a shared database: new names
        console.print(f"seeding {users} patients ({kind}) ...")
        accounts, setup_s = seed_clinic(url, users, tag)
        console.print(f"seeded in {setup_s:.1f} s; starting the server on {HOST}")
        proc, base = start_server(url, tmp_path / "data", tmp_path / "server.log")
        try:
            tally, elapsed, flood_s, locked = asyncio.run(drive(base, accounts, seconds, think_s, seed, console,
                                                                login_flood, f"loadclin{tag}"))
        finally:
            stop_server(proc)
        server_log = (tmp_path / "server.log").read_text(errors="replace").strip()
    load = [s for s in tally.samples if s.kind in LOAD_KINDS and s.phase == "calm"]
    overall = stats(load)
    per_kind = {k: stats([s for s in load if s.kind == k]) for k in LOAD_KINDS}
    flood_report = flood_figures(tally, login_flood, f"loadclin{tag}", locked, users) if login_flood else None
    sign_ins = stats([s for s in tally.samples if s.kind == "sign_in"])
    errors = len(tally.errors)
    messages = tally.errors[:MAX_ERROR_MESSAGES]
    if server_log and errors:
        messages.append(f"server log: {server_log[-1000:]}")
    return LoadReport(
        users=users, seconds=seconds, elapsed_s=round(elapsed, 2), requests=overall.count, errors=errors,
        error_messages=messages, refusals=overall.refusals, throughput_rps=round(overall.count / elapsed, 2),
        overall=overall, per_kind=per_kind, sign_in=sign_ins, database=kind,
        passed=errors == 0 and overall.count > 0 and overall.p95_ms < TARGET_P95_MS and flood_passed(flood_report),
        setup_s=round(setup_s, 2), flood=flood_report,
        config={"users": users, "seconds": seconds, "login_flood_per_s": login_flood, "think_s": list(think_s),
                "seed": seed, "mix": MIX,
                "amplitude_band_steps": BAND_STEPS, "request_timeout_s": REQUEST_TIMEOUT_S,
                "database_url": url.split("@")[-1] if database_url else "sqlite (temporary file)",
                "server": "uvicorn, 1 process, h11, asyncio" + ("" if _has("uvloop") else " (no uvloop)"),
                "client": f"httpx {httpx.__version__} AsyncClient, one keep-alive connection per user",
                "python": platform.python_version(), "cpus": os.cpu_count(), "host": HOST})


def flood_figures(tally: Tally, rate: float, account: str, locked: bool, users: int) -> FloodReport:
    """The flood window's figures from the tally."""
    load = [s for s in tally.samples if s.kind in LOAD_KINDS and s.phase == "flood"]
    others = [s for s in tally.samples if s.kind == "other_sign_in"]
    return FloodReport(rate_per_s=rate, account=account, attempts=sum(tally.flood_answers.values()),
                       answers=dict(sorted(tally.flood_answers.items())), attempts_to_lock=tally.first_lock,
                       right_password_refused=locked, others_signed_in=sum(s.ok for s in others), others_tried=users,
                       other_sign_in=stats(others), overall=stats(load),
                       per_kind={k: stats([s for s in load if s.kind == k]) for k in LOAD_KINDS})


def flood_passed(flood: FloodReport | None) -> bool:
    """No flood, or: the controller's p95 within the target, the account locked, every other sign-in served."""
    if flood is None:
        return True
    return (flood.overall.count > 0 and flood.overall.p95_ms < TARGET_P95_MS and flood.attempts_to_lock is not None
            and flood.right_password_refused and flood.others_signed_in == flood.others_tried)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def print_report(report: LoadReport, console: Console) -> None:
    table = Table(title=f"clinic load: {report.users} users, {report.seconds:g} s, {report.database} "
                        f"(latency in ms)")
    for col in ("kind", "n", "err", "refused", "mean", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="left" if col == "kind" else "right")

    def row(name: str, s: KindStats, style: str | None = None) -> None:
        f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        table.add_row(name, str(s.count), str(s.errors), str(s.refusals), f(s.mean_ms), f(s.p50_ms), f(s.p95_ms),
                      f(s.p99_ms), f(s.max_ms), style=style)
    for k, s in report.per_kind.items():
        row(k, s)
    row("all", report.overall, style="bold")
    row("sign_in*", report.sign_in, style="dim")
    console.print(table)
    console.print("* sign-in (Argon2, once per user before the window) is reported apart, not in 'all'")
    console.print(f"{report.requests} requests in {report.elapsed_s:.1f} s = {report.throughput_rps:.1f} req/s; "
                  f"{report.errors} errors; {report.refusals} device refusals; set-up {report.setup_s:.1f} s")
    for m in report.error_messages:
        console.print(f"  error: {m}", markup=False, highlight=False)
    if report.flood:
        print_flood(report, console)
    p95 = report.overall.p95_ms
    verdict = ("[green]PASS[/green]" if report.passed else "[red]FAIL[/red]")
    console.print(f"target (the issue): p95 < {report.target_p95_ms:g} ms and 0 errors -> p95 "
                  f"{'-' if p95 is None else f'{p95:.1f}'} ms, {report.errors} errors: {verdict}")


def print_flood(report: LoadReport, console: Console) -> None:
    f = report.flood
    p95 = lambda s: "-" if s.p95_ms is None else f"{s.p95_ms:.1f} ms"  # noqa: E731
    console.print(f"phone controller p95: {p95(report.overall)} without the flood, {p95(f.overall)} with "
                  f"{f.rate_per_s:g} wrong sign-ins/s ({f.overall.count} requests)")
    answers = ", ".join(f"{n} x {code}" for code, n in f.answers.items())
    first = f.attempts_to_lock if f.attempts_to_lock is not None else "- (never)"
    right = "refused (429)" if f.right_password_refused else "NOT refused"
    console.print(f"login flood on {f.account!r}: {f.attempts} attempts ({answers}); first refused (429) at "
                  f"attempt {first}; right password during the flood: {right}; other users signed in during the "
                  f"flood: {f.others_signed_in}/{f.others_tried}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20, help="concurrent simulated patients (default 20)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the load window (default 60)")
    ap.add_argument("--database-url", default=None, help="SQLAlchemy URL of a scratch database "
                    "(default: a fresh SQLite file in a temporary folder)")
    ap.add_argument("--think-min", type=float, default=0.2, help="shortest think time between taps, s")
    ap.add_argument("--think-max", type=float, default=0.6, help="longest think time between taps, s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--login-flood", type=float, default=0.0, metavar="N",
                    help="then a second window with N wrong-password sign-ins per second for the clinician's "
                         "account from other clients (default 0: no flood)")
    ap.add_argument("--json", type=Path, default=None, help="write the report as JSON to this file")
    args = ap.parse_args(argv)
    err = Console(stderr=True)
    try:
        report = run_load(args.users, args.seconds, args.database_url, (args.think_min, args.think_max), args.seed,
                          console=err, login_flood=args.login_flood)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        return 2
    print_report(report, Console())
    if args.json:
        args.json.write_text(report.model_dump_json(indent=2) + "\n")
        err.print(f"report written to {args.json}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
