"""Clinic predictions: the wrapper passes the page's inputs to drgsim.therapy unchanged, answers at once
or "computing", and names bad input. Quick quality, on a cold cache of its own."""

from __future__ import annotations

import gc
import os
import threading

import pytest

from drgsim.anatomy.atlas import get_region
from drgsim.anatomy.painmap import PainMap
from drgsim.anatomy.patient import default_patient
from drgsim.clinic import predict as predict_module
from drgsim.clinic.predict import LeadAt, Prediction, PredictionRequest, Predictor
from drgsim.devices.program import LeadSettings, Program
from drgsim.therapy.model import QUALITY, Implant, LeadPlan, TherapyModel
from drgsim.therapy.outcomes import evaluate_posture

PAIN = dict(default_patient().pain_map.nrs)  # CRPS of the left foot: sole, heel, dorsum
S1_LEFT = LeadAt(lead=1, level="S1", side="left")
WAIT = 300.0  # seconds: long enough for a cold field solution on a slow runner


@pytest.fixture(scope="module", autouse=True)
def cold_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DRGSIM_CACHE_DIR", str(tmp_path_factory.mktemp("clinic-predict-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def predictor(cold_cache):
    p = Predictor(quality="quick")
    yield p
    p.close()


def _program(settings: dict[int, tuple[str, float]], pw: float = 300.0, enabled: bool = True) -> Program:
    return Program(name="edit", leads={k: LeadSettings(contacts=c, amplitude_ma=a, pulse_width_us=pw, frequency_hz=20.0,
                                                       enabled=enabled)
                                       for k, (c, a) in settings.items()})


def _request(settings, leads=(S1_LEFT,), pain=PAIN, **kw) -> PredictionRequest:
    return PredictionRequest(pain=pain, leads=list(leads), program=_program(settings, **kw))


_DIRECT: dict[tuple, TherapyModel] = {}


def _direct(program: Program, plans: tuple[tuple[str, str], ...] = (("S1", "left"),), pain=PAIN):
    """drgsim.therapy called directly: the default patient with the pain map, the same leads."""
    key = (plans, tuple(sorted(pain.items())))
    if key not in _DIRECT:
        patient = default_patient().model_copy(update={"pain_map": PainMap(nrs=pain)})
        implant = Implant(system="drg", ipg_model="drg_ipg", leads=[LeadPlan(level=lv, side=sd) for lv, sd in plans])
        _DIRECT[key] = TherapyModel(patient, implant, QUALITY["quick"])
    return evaluate_posture(_DIRECT[key], program, "supine")


def _same(pred: Prediction, out) -> None:
    assert pred.status == "ready" and pred.error is None and pred.quality == "quick"
    assert pred.paresthesia == out.paresthesia
    assert pred.pain_coverage_pct == out.pain_coverage_pct
    assert pred.off_target_pct == out.off_target_pct
    assert pred.motor == out.motor_activated
    assert pred.adelta_c_cells == out.adelta_activated + out.c_fibers_activated


def test_a_supra_threshold_s1_bipole_covers_the_left_s1_dermatome(predictor):
    req = _request({1: ("-+00", 1.0)})
    pred = predictor.predict(req, wait_s=WAIT)
    assert pred.status == "ready", pred.error
    assert pred.paresthesia and pred.pain_coverage_pct > 0
    right = max((v for r, v in pred.paresthesia.items() if r.startswith("right_")), default=0.0)
    assert pred.paresthesia["left_sole"] > right and pred.paresthesia["left_heel"] > right
    assert all(r.startswith("left_") and get_region(r).weight("S1") > 0 for r in pred.paresthesia)
    _same(pred, _direct(req.program))
    assert predictor.predict(req, wait_s=0) == pred  # memoised: at once


def test_zero_or_disabled_programs_evoke_nothing(predictor):
    for req in (_request({1: ("-+00", 0.0)}), _request({1: ("-+00", 1.0)}, enabled=False)):
        pred = predictor.predict(req, wait_s=WAIT)
        assert pred.status == "ready", pred.error
        assert pred.paresthesia == {} and pred.pain_coverage_pct == 0 and pred.off_target_pct == 0
        assert pred.motor is False and pred.adelta_c_cells == 0
        _same(pred, _direct(req.program))


def test_a_higher_amplitude_never_covers_less(predictor):
    prev = None
    for a in (0.2, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0):
        req = _request({1: ("00+-", a)})
        pred = predictor.predict(req, wait_s=WAIT)
        _same(pred, _direct(req.program))
        if prev is not None:
            assert pred.pain_coverage_pct >= prev.pain_coverage_pct
            assert all(pred.paresthesia.get(r, 0.0) >= v for r, v in prev.paresthesia.items())
        prev = pred
    assert prev.pain_coverage_pct > 0


def test_a_new_configuration_is_computing_then_ready(predictor, monkeypatch):
    calls = []
    submit = predictor._submit

    def counted(job):
        calls.append(1)
        return submit(job)

    monkeypatch.setattr(predictor, "_submit", counted)  # the worker process computes; count what is sent to it
    req = _request({1: ("-+00", 1.0)}, pw=200.0)  # a new pulse width: a new threshold table (seconds)
    first = predictor.predict(req, wait_s=0)
    assert first.status == "computing" and first.paresthesia == {} and first.pain_coverage_pct is None
    assert first.detail.startswith("computing the threshold tables of lead 1 for this configuration")
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(predictor.predict(req, wait_s=WAIT))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    later = predictor.predict(req, wait_s=0)
    assert later.status == "ready", later.error
    assert all(a == later for a in answers)  # concurrent callers share one computation
    assert len(calls) == 1
    _same(later, _direct(req.program))


def test_two_leads_with_a_gap_in_the_ipg_numbers(predictor):
    """IPG leads 1 (S1) and 3 (L5): the therapy layer numbers them 1 and 2; only the enabled L5 lead counts."""
    leads = (S1_LEFT, LeadAt(lead=3, level="L5", side="left"))
    program = Program(name="edit", leads={
        1: LeadSettings(contacts="-+00", amplitude_ma=1.0, pulse_width_us=300, frequency_hz=20, enabled=False),
        3: LeadSettings(contacts="-+00", amplitude_ma=1.0, pulse_width_us=300, frequency_hz=20, enabled=True)})
    pred = predictor.predict(PredictionRequest(pain=PAIN, leads=list(leads), program=program), wait_s=WAIT)
    assert pred.status == "ready", pred.error
    assert pred.paresthesia["left_great_toe"] > 0 and pred.paresthesia["left_foot_dorsum"] > 0
    assert all(r.startswith("left_") and get_region(r).weight("L5") > 0 for r in pred.paresthesia)
    direct = Program(name="edit", leads={1: program.leads[1], 2: program.leads[3]})
    _same(pred, _direct(direct, plans=(("S1", "left"), ("L5", "left"))))


def test_predictions_run_in_a_worker_process_and_the_server_holds_no_model(predictor):
    # models other tests of the session hold (this module's own, the therapy fixtures) are not the predictor's
    before = {id(o) for o in gc.get_objects() if isinstance(o, TherapyModel)}
    pred = predictor.predict(_request({1: ("-+00", 1.0)}), wait_s=WAIT)
    assert pred.status == "ready", pred.error
    pid, models = predictor.probe()
    assert pid != os.getpid() and models >= 1
    assert not hasattr(predictor, "_models")
    assert not [o for o in gc.get_objects() if isinstance(o, TherapyModel) and id(o) not in before]
    assert not predict_module._MODELS  # the worker's cache lives in the worker


def test_the_first_prediction_of_leads_says_it_takes_minutes(cold_cache):
    p = Predictor(quality="quick")
    try:
        pred = p.predict(_request({2: ("-+00", 1.0)}, leads=(LeadAt(lead=2, level="L4", side="left"),)), wait_s=0)
        assert pred.status == "computing"
        assert pred.detail == ("computing the fields, cells and threshold tables of lead 2 (quick quality; first "
                               "time for this pain map and these leads: minutes)")
    finally:
        p.close()


def test_a_failure_in_the_therapy_layer_is_reported_not_raised(cold_cache, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("lead 1 (S1 left), supine: meshing failed")

    monkeypatch.setattr(predict_module, "evaluate_posture", broken)  # the worker's job, run here
    job = predict_module.prepare(_request({1: ("-+00", 1.0)}))
    pred = predict_module.predict_job(job, "quick", 1, predict_module._env())
    assert pred.status == "failed" and "meshing failed" in pred.error and pred.paresthesia == {}
    predict_module._MODELS.clear()


def test_a_dead_worker_is_reported_not_raised(cold_cache, monkeypatch):
    p = Predictor(quality="quick")
    monkeypatch.setattr(p, "_submit", lambda job: p._pool().submit(os._exit, 1))
    try:
        pred = p.predict(_request({1: ("-+00", 1.0)}), wait_s=WAIT)
        assert pred.status == "failed" and "BrokenProcessPool" in pred.error and pred.paresthesia == {}
    finally:
        p.close()
    closed = p.predict(_request({1: ("-+00", 0.5)}), wait_s=WAIT)
    assert closed.status == "failed" and "closed" in closed.error


def _bad(**change) -> PredictionRequest:
    base = dict(pain=PAIN, leads=[S1_LEFT], program=_program({1: ("-+00", 1.0)}))
    return PredictionRequest(**{**base, **change})


@pytest.mark.parametrize("request_, message", [
    (_bad(pain={"left_sol": 5}), r"pain: unknown body region 'left_sol'; close matches: left_sole"),
    (_bad(pain={"left_sole": 11}), r"pain.left_sole=11; allowed: integers 0-10"),
    (_bad(pain={"left_sole": -1}), r"pain.left_sole=-1; allowed: integers 0-10"),
    (_bad(pain={"left_sole": 0}), r"pain: no region has pain; allowed: at least one region with NRS 1-10"),
    (_bad(leads=[LeadAt(lead=1, level="L6", side="left")]), r"leads\[0\].level='L6'; allowed: T10, .*S1, S2"),
    (_bad(leads=[LeadAt(lead=1, level="S1", side="middle")]), r"leads\[0\].side='middle'; allowed: left, right"),
    (_bad(leads=[LeadAt(lead=5, level="S1", side="left")]), r"leads\[0\].lead=5; allowed: 1-4"),
    (_bad(leads=[]), r"leads is empty; allowed: 1-4 DRG leads"),
    (_bad(leads=[S1_LEFT, LeadAt(lead=1, level="L5", side="left")]), r"leads\[1\].lead=1 is given twice"),
    (_bad(leads=[S1_LEFT, LeadAt(lead=2, level="S1", side="left")]), r"leads\[1\]: .*one lead per ganglion"),
    (_bad(program=_program({2: ("-+00", 1.0)})), r"program.leads has leads \[2\]; allowed: .* leads \[1\]"),
    (_bad(program=_program({1: ("-+000000", 1.0)})), r"program.leads.1.contacts has 8 entries; allowed: 4"),
    (_bad(program=_program({1: ("--00", 1.0)})), r"program.leads.1.contacts='--00': .*one \+ and one -"),
    (_bad(program=_program({1: ("-+00", 7.0)})), r"program.leads.1.amplitude_ma=7 mA .*allowed: 0-6 mA"),
    (_bad(program=_program({1: ("-+00", 1.0)}, pw=1000)), r"program.leads.1.pulse_width_us=1000 us .*allowed: 40-720"),
])
def test_bad_input_is_named_before_anything_is_scheduled(request_, message):
    p = Predictor(quality="quick")
    try:
        with pytest.raises(ValueError, match=message):
            p.predict(request_, wait_s=0)
        assert not p._pending and not p._results
    finally:
        p.close()


def test_unknown_quality_is_named():
    with pytest.raises(ValueError, match="quality='best'; allowed: standard, quick"):
        Predictor(quality="best")
