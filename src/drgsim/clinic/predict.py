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
existing table is re-evaluated in milliseconds. One background worker thread computes;
``Predictor.predict`` waits up to ``wait_s`` and otherwise answers ``status="computing"`` so the page
can poll with the same request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
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


class Predictor:
    """Predictions from drgsim.therapy, computed by one background thread and memoised per request.

    ``TherapyModel`` objects (fields, cells, threshold tables in memory) are kept per (pain map, leads)
    in an LRU of ``max_models``; results per request in an LRU of ``max_results``. Safe to call from
    many request threads.
    """

    def __init__(self, quality: str = "standard", max_models: int = 8, max_results: int = 2048):
        if max_models < 1 or max_results < 1:
            raise ValueError(f"max_models={max_models}, max_results={max_results}; allowed: at least 1 each")
        self.quality = quality
        self._quality = quality_settings(quality)  # ValueError naming the allowed qualities
        self.max_models, self.max_results = max_models, max_results
        self._lock = threading.Lock()
        self._models: OrderedDict[str, TherapyModel] = OrderedDict()
        self._results: OrderedDict[str, Prediction] = OrderedDict()
        self._pending: dict[str, Future] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drgsim-predict")
        self._closed = False

    def _key(self, request: PredictionRequest) -> str:
        return json.dumps({"request": request.model_dump(mode="json"), "quality": self.quality},
                          sort_keys=True, separators=(",", ":"))

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
            future = self._pending.get(key)
            if future is None:
                if self._closed:
                    return Prediction(status="failed", error="the predictor is closed", quality=self.quality)
                future = self._executor.submit(self._run, key, job)
                self._pending[key] = future
        try:
            return future.result(timeout=max(0.0, wait_s))
        except TimeoutError:
            return Prediction(status="computing", quality=self.quality)
        except CancelledError:
            return Prediction(status="failed", error="cancelled: the predictor was closed", quality=self.quality)

    def _model(self, job: _Job) -> TherapyModel:
        key = json.dumps({"pain": job.pain.model_dump(mode="json"),
                          "leads": [p.model_dump(mode="json") for p in job.plans]}, sort_keys=True)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        model = TherapyModel(clinic_patient(job.pain), clinic_implant(job.plans), self._quality)
        with self._lock:
            self._models[key] = model
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        return model

    def _run(self, key: str, job: _Job) -> Prediction:
        t0 = time.perf_counter()
        try:
            out = evaluate_posture(self._model(job), job.program, POSTURE)
            result = _ready(out, self.quality)
            log.info("prediction ready in %.3f s (%d leads delivering)", time.perf_counter() - t0,
                     len(job.program.leads))
        except Exception as err:  # the web request gets the message, never the exception
            log.warning("prediction failed after %.3f s: %s", time.perf_counter() - t0, err, exc_info=True)
            result = Prediction(status="failed", error=f"{type(err).__name__}: {err}", quality=self.quality)
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)
            self._pending.pop(key, None)
        return result

    def close(self) -> None:
        """Stop the worker: queued computations are cancelled, a running one finishes in the background."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for key in pending:
                future = self._pending.get(key)
                if future is not None and future.cancelled():
                    del self._pending[key]
