"""Live predictions for the programming page: the paresthesia a program would evoke, over the pain map.

The physics is drgsim.therapy's (``drgsim.therapy.model`` builds each lead's field, cells and
threshold tables; ``drgsim.therapy.outcomes.evaluate_posture`` turns a program into paresthesia,
pain coverage and side effects); this module only validates the page's inputs, builds the implant
from the leads' levels and sides, and runs the therapy layer off the web request's thread.

Anatomy: the clinic predicts on the embedded default patient's mean anatomy
(``drgsim.anatomy.patient.default_patient()``: mean ganglion geometry at every level, no lead
placement error) with the request's pain map substituted for the default one. The pain map enters
the patient's content hash, which seeds each lead's neuron population, so a new pain map means new
cells and new tables (seconds), while amplitude changes on the same configuration do not. DRG
system only (the catalog's DRG IPG), supine posture only.

Timing: the first prediction of a lead (field solution and cells) takes tens of seconds at the
"standard" quality unless the field is on disk (``DRGSIM_CACHE_DIR``); a new contact
configuration, pulse width or frequency needs a new threshold table (seconds); any amplitude on an
existing table is re-evaluated in milliseconds. One worker process computes (spawned at the first
prediction, never inside the web server's process, so the server holds no fields, cells or tables);
``Predictor.predict`` waits up to ``wait_s`` and otherwise answers ``status="computing"``, saying what is
being computed, so the page can poll with the same request.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from typing import Literal

from pydantic import BaseModel, ConfigDict

from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.painmap import PainMap, PainMapError, pain_map
from drgsim.anatomy.patient import Patient, default_patient
from drgsim.anatomy.posture import Posture
from drgsim.clinic.catalog import IPG_MODEL, clinic_ipg
from drgsim.devices.hardware import IPGModel
from drgsim.devices.program import LeadSettings, Program
from drgsim.therapy.model import Implant, LeadPlan, System, TherapyModel
from drgsim.therapy.model import quality as quality_settings
from drgsim.therapy.outcomes import PostureOutcome, evaluate_posture

log = logging.getLogger(__name__)

POSTURE = Posture.SUPINE


class LeadAt(BaseModel):
    """A DRG lead of the implant: its IPG lead number, ganglion level (T10-S2) and side."""

    model_config = ConfigDict(extra="forbid")

    lead: int
    level: str
    side: str


class PredictionRequest(BaseModel):
    """What the programming page shows: the pain map, where the leads lie, and the program being edited."""

    model_config = ConfigDict(extra="forbid")

    pain: dict[str, int]  # atlas region id -> NRS 0-10
    leads: list[LeadAt]
    program: Program  # the device program being edited (leads keyed by IPG lead number)


class Prediction(BaseModel):
    """drgsim.therapy's supine outcome of the program, reduced to what the page draws."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ready", "computing", "failed"]
    error: str | None = None
    paresthesia: dict[str, float] = {}  # region id -> covered share 0..1 (supine)
    pain_coverage_pct: float | None = None
    off_target_pct: float | None = None
    motor: bool | None = None  # any motor axon fires
    adelta_c_cells: int | None = None  # A-delta + C neurons firing
    quality: str
    detail: str | None = None  # while computing: what is being computed


class _Job(BaseModel):
    """A validated request in the therapy layer's terms: implant leads in IPG lead order, and the
    program renumbered to them, holding only the leads that deliver current."""

    model_config = ConfigDict(frozen=True)

    pain: PainMap
    plans: tuple[LeadPlan, ...]
    program: Program


def _ipg() -> IPGModel:
    return clinic_ipg()


def _check_pain(nrs: dict[str, int]) -> PainMap:
    for region, value in nrs.items():
        if not 0 <= value <= 10:
            raise ValueError(f"pain.{region}={value}; allowed: integers 0-10 (NRS)")
    try:
        pm = pain_map(nrs)
    except PainMapError as err:
        raise ValueError(f"pain: {err}") from None
    if not any(v > 0 for v in pm.nrs.values()):
        raise ValueError("pain: no region has pain; allowed: at least one region with NRS 1-10")
    return pm


def _check_leads(leads: list[LeadAt], ipg: IPGModel) -> None:
    if not leads:
        raise ValueError(f"leads is empty; allowed: 1-{ipg.max_leads} DRG leads")
    seen: dict[int, LeadAt] = {}
    ganglia: dict[tuple[str, str], int] = {}
    for i, lead in enumerate(leads):
        where = f"leads[{i}]"
        if not 1 <= lead.lead <= ipg.max_leads:
            raise ValueError(f"{where}.lead={lead.lead}; allowed: 1-{ipg.max_leads} (IPG lead numbers)")
        if lead.lead in seen:
            raise ValueError(f"{where}.lead={lead.lead} is given twice; allowed: each IPG lead number once")
        if lead.level not in {lv.value for lv in Level}:
            raise ValueError(f"{where}.level={lead.level!r}; allowed: {', '.join(Level)} (DRG levels)")
        if lead.side not in {sd.value for sd in Side}:
            raise ValueError(f"{where}.side={lead.side!r}; allowed: {', '.join(Side)}")
        if (lead.level, lead.side) in ganglia:
            raise ValueError(f"{where}: lead {lead.lead} and lead {ganglia[(lead.level, lead.side)]} are both at "
                             f"the {lead.level} {lead.side} ganglion; allowed: one lead per ganglion")
        seen[lead.lead] = lead
        ganglia[(lead.level, lead.side)] = lead.lead


def _delivers(s: LeadSettings) -> bool:
    """A lead contributes only when enabled at a non-zero amplitude."""
    return s.enabled and s.amplitude_ma > 0


def _check_program(program: Program, leads: list[LeadAt], ipg: IPGModel) -> None:
    """The implant's leads, each with settings the device accepts (``IPGModel.program_problems``)."""
    numbers = sorted(x.lead for x in leads)
    if sorted(program.leads) != numbers:
        raise ValueError(f"program.leads has leads {sorted(program.leads)}; allowed: exactly the implant's "
                         f"leads {numbers}")
    if problems := ipg.program_problems(program):
        raise ValueError("; ".join(problems))


def prepare(request: PredictionRequest) -> _Job:
    """Validate a request (ValueError naming the field, the value and what is allowed) and put it in
    the therapy layer's terms."""
    ipg = _ipg()
    pm = _check_pain(request.pain)
    _check_leads(request.leads, ipg)
    _check_program(request.program, request.leads, ipg)
    ordered = sorted(request.leads, key=lambda x: x.lead)
    plans = tuple(LeadPlan(level=Level(x.level), side=Side(x.side)) for x in ordered)
    # The therapy layer numbers leads 1..n in implant order; the IPG's numbers may have gaps.
    index = {x.lead: i for i, x in enumerate(ordered, start=1)}
    program = request.program.model_copy(update={
        "leads": {index[k]: s for k, s in sorted(request.program.leads.items()) if _delivers(s)}})
    return _Job(pain=pm, plans=plans, program=program)


_DEFAULT_PATIENT: Patient | None = None


def clinic_patient(pain: PainMap) -> Patient:
    """The default patient's mean anatomy with ``pain`` as its pain map."""
    global _DEFAULT_PATIENT
    if _DEFAULT_PATIENT is None:
        _DEFAULT_PATIENT = default_patient()
    return _DEFAULT_PATIENT.model_copy(update={"pain_map": pain})


def clinic_implant(plans: tuple[LeadPlan, ...] | list[LeadPlan]) -> Implant:
    """A DRG implant (the catalog's DRG IPG) with leads at the given ganglia, in IPG lead order."""
    return Implant(system=System.DRG, ipg_model=IPG_MODEL, leads=list(plans))


def _ready(out: PostureOutcome, quality: str) -> Prediction:
    return Prediction(status="ready", paresthesia=dict(out.paresthesia), pain_coverage_pct=out.pain_coverage_pct,
                      off_target_pct=out.off_target_pct, motor=out.motor_activated,
                      adelta_c_cells=out.adelta_activated + out.c_fibers_activated, quality=quality)


def _env() -> dict[str, str]:
    """The server's DRGSIM_* settings (cache and data directories, limits), handed to each job."""
    return {k: v for k, v in os.environ.items() if k.startswith("DRGSIM_")}


def _set_env(env: dict[str, str]) -> None:
    for k in [k for k in os.environ if k.startswith("DRGSIM_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Shut a worker pool down without waiting: queued jobs are cancelled and its processes terminated."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()


def _model_key(job: _Job) -> str:
    return json.dumps({"pain": job.pain.model_dump(mode="json"),
                       "leads": [p.model_dump(mode="json") for p in job.plans]}, sort_keys=True)


_MODELS: OrderedDict[str, TherapyModel] = OrderedDict()  # the worker process's models (never the server's)


def _worker_model(job: _Job, quality: str, max_models: int) -> TherapyModel:
    key = json.dumps({"model": _model_key(job), "quality": quality})
    model = _MODELS.get(key)
    if model is not None:
        _MODELS.move_to_end(key)
        return model
    model = TherapyModel(clinic_patient(job.pain), clinic_implant(job.plans), quality_settings(quality))
    _MODELS[key] = model
    while len(_MODELS) > max_models:
        _MODELS.popitem(last=False)
    return model


def predict_job(job: _Job, quality: str, max_models: int, env: dict[str, str]) -> Prediction:
    """One prediction, in the worker process: a failure comes back as ``status="failed"`` with its message."""
    _set_env(env)
    t0 = time.perf_counter()
    try:
        out = evaluate_posture(_worker_model(job, quality, max_models), job.program, POSTURE)
        result = _ready(out, quality)
        log.info("prediction ready in %.3f s (%d leads delivering)", time.perf_counter() - t0,
                 len(job.program.leads))
    except Exception as err:  # the web request gets the message, never the exception
        log.warning("prediction failed after %.3f s: %s", time.perf_counter() - t0, err, exc_info=True)
        result = Prediction(status="failed", error=f"{type(err).__name__}: {err}", quality=quality)
    return result


def worker_probe() -> tuple[int, int]:
    """The worker's process id and how many models it holds (for tests and diagnostics)."""
    return os.getpid(), len(_MODELS)


def _computing(request: PredictionRequest, first: bool, quality: str) -> str:
    leads = ", ".join(str(x.lead) for x in sorted(request.leads, key=lambda x: x.lead))
    what = f"lead{'s' if len(request.leads) > 1 else ''} {leads}"
    if first:
        return (f"computing the fields, cells and threshold tables of {what} ({quality} quality; first time for "
                f"this pain map and these leads: minutes)")
    return f"computing the threshold tables of {what} for this configuration ({quality} quality; seconds)"


class Predictor:
    """Predictions from drgsim.therapy, computed in one worker process and memoised per request.

    The worker (spawned at the first prediction) keeps ``TherapyModel`` objects (fields, cells, threshold
    tables) per (pain map, leads) in an LRU of ``max_models``; the server keeps only results per request, in
    an LRU of ``max_results``. The worker is replaced after ``max_tasks`` predictions (default 50: a model
    is reused by the many amplitude steps of one session, while a fresh process returns whatever memory
    the solvers fragmented). Safe to call from many request threads.
    """

    def __init__(self, quality: str = "standard", max_models: int = 8, max_results: int = 2048,
                 max_tasks: int = 50):
        if max_models < 1 or max_results < 1 or max_tasks < 1:
            raise ValueError(f"max_models={max_models}, max_results={max_results}, max_tasks={max_tasks}; "
                             "allowed: at least 1 each")
        self.quality = quality
        quality_settings(quality)  # ValueError naming the allowed qualities
        self.max_models, self.max_results, self.max_tasks = max_models, max_results, max_tasks
        self._lock = threading.RLock()  # a job done before add_done_callback runs _done under it
        self._results: OrderedDict[str, Prediction] = OrderedDict()
        self._pending: dict[str, tuple[Future, str]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()  # model keys asked for (to say what is computed)
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def _key(self, request: PredictionRequest) -> str:
        return json.dumps({"request": request.model_dump(mode="json"), "quality": self.quality},
                          sort_keys=True, separators=(",", ":"))

    def _pool(self) -> ProcessPoolExecutor:
        """The worker process pool, created at first use (so it sees the environment of that moment)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 max_tasks_per_child=self.max_tasks)
        return self._executor

    def _submit(self, job: _Job) -> Future:
        return self._pool().submit(predict_job, job, self.quality, self.max_models, _env())

    def probe(self) -> tuple[int, int]:
        """``worker_probe`` run in the worker process."""
        with self._lock:
            future = self._pool().submit(worker_probe)
        return future.result(timeout=300)

    def predict(self, request: PredictionRequest, wait_s: float = 0.3) -> Prediction:
        """The prediction for ``request``: at once when known, else after up to ``wait_s`` of computing
        (``status="computing"`` if not done by then; ask again later). Invalid input raises ValueError
        here; a failure of the computation comes back as ``status="failed"`` with its message."""
        job = prepare(request)
        key = self._key(request)
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
            pending = self._pending.get(key)
            if pending is None:
                if self._closed:
                    return Prediction(status="failed", error="the predictor is closed", quality=self.quality)
                mkey = _model_key(job)
                detail = _computing(request, mkey not in self._seen, self.quality)
                self._seen[mkey] = None
                self._seen.move_to_end(mkey)
                while len(self._seen) > self.max_results:
                    self._seen.popitem(last=False)
                future = self._submit(job)
                pending = self._pending[key] = (future, detail)
                future.add_done_callback(lambda f, key=key: self._done(key, f))
        future, detail = pending
        try:
            return future.result(timeout=max(0.0, wait_s))
        except TimeoutError:
            return Prediction(status="computing", quality=self.quality, detail=detail)
        except CancelledError:
            return Prediction(status="failed", error="cancelled: the predictor was closed", quality=self.quality)
        except Exception as err:  # the worker process died (BrokenProcessPool) or the job could not be sent
            return Prediction(status="failed", error=f"{type(err).__name__}: {err}", quality=self.quality)

    def _done(self, key: str, future: Future) -> None:
        """Keep a finished prediction (a cancelled or broken one is dropped, so it is asked again)."""
        result = None
        if not future.cancelled() and future.exception() is None:
            result = future.result()
        with self._lock:
            if result is not None:
                self._results[key] = result
                while len(self._results) > self.max_results:
                    self._results.popitem(last=False)
            self._pending.pop(key, None)

    def close(self) -> None:
        """Stop the worker: queued computations are cancelled, a running one is stopped with its process."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            _stop(executor)
