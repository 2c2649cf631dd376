"""The clinic web application (FastAPI): a JSON API under ``/api/v1`` and server-rendered pages
(Jinja2 + HTMX, no front-end build) over the same operations in ``drgsim.clinic.service``.

Each request runs in one database transaction, committed only when the whole request succeeded.
Refused access (wrong role or another patient's record) answers 403 and is written to the audit
log in a transaction of its own, so the refusal is kept although the request's work is rolled back.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from drgsim.anatomy.levels import Level
from drgsim.clinic import auth, service as svc
from drgsim.clinic.db import make_engine, session_factory
from drgsim.clinic.models import (AdverseEvent, AuditEntry, FollowUp, ImplantRecord, Patient, PlanRecord, Screening,
                                  User, WebSession)
from drgsim.clinic.schemas import (AdverseEventIn, DecisionIn, DiaryIn, FollowUpIn, ImplantIn, LeadIn, Login,
                                   PainMapIn, PatientIn, PlanIn, ProgramIn, RegionIn, ReplacementIn, ScreeningIn,
                                   StepIn, TherapyIn, TrialIn)
from drgsim.clinic.reports import Comparisons, report_dir
from drgsim.clinic.svgmap import body_map_svg
from drgsim.devices.program import Program, contacts_label

log = logging.getLogger("drgsim.clinic")
HERE = Path(__file__).parent
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN_CSRF_COOKIE = "drgsim_login_csrf"


class NeedLogin(Exception):
    pass


class CommitFirst(APIRoute):
    """Commit the request's transaction before the response leaves, so the browser's next request (e.g.
    following a redirect) always sees the write; FastAPI may run a dependency's exit code later."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            response = await handler(request)
            db = getattr(request.state, "db", None)
            if db is not None:
                await run_in_threadpool(db.commit)
            return response
        return run


class Ctx:
    """What a request knows: the database session, the signed-in user and their web session."""

    def __init__(self, db: Session, user: User, web: WebSession):
        self.db, self.user, self.web = db, user, web


def create_app(database_url: str | None = None, *, quality: str = "standard", secure_cookies: bool = False,
               predictor=None) -> FastAPI:
    """The clinic on ``database_url`` (default: ``DRGSIM_DATABASE_URL`` or the SQLite file; migrate first).

    ``quality`` is the therapy-model quality of predicted paresthesia maps (``standard`` or ``quick``)."""
    engine = make_engine(database_url)
    sessions = session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if app.state.predictor is not None:
            app.state.predictor.close()
        app.state.comparisons.close()
        engine.dispose()

    app = FastAPI(title="drgsim clinic", version="1", lifespan=lifespan,
                  description="DRG stimulation pathway: evaluation, trial, implant, programming, follow-up.")
    app.state.sessions = sessions
    app.state.quality = quality
    app.state.predictor = predictor
    app.state.comparisons = Comparisons(quality)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(today=svc.today, contacts_label=contacts_label, levels=[lv.value for lv in Level])
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def get_db(request: Request):
        db = sessions()
        request.state.db = db
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    async def form_data(request: Request) -> dict[str, Any]:
        """A posted HTML form's non-empty fields (parsed here so the endpoints can stay synchronous)."""
        if request.method in UNSAFE and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            return {k: v for k, v in (await request.form()).items() if v != ""}
        return {}

    def ctx(request: Request, db: Session = Depends(get_db), form: dict = Depends(form_data)) -> Ctx:
        web = auth.find_session(db, request.cookies.get(auth.SESSION_COOKIE))
        if web is None:
            raise NeedLogin()
        if request.method in UNSAFE:
            supplied = request.headers.get("x-csrf-token") or form.get("csrf_token")
            if not auth.csrf_ok(web, supplied):
                raise svc.Forbidden(web.user, f"{request.method} {request.url.path}", None,
                                    "missing or wrong CSRF token")
        return Ctx(db, web.user, web)

    def predictor_():
        if app.state.predictor is None:
            from drgsim.clinic.predict import Predictor

            app.state.predictor = Predictor(quality=app.state.quality)
        return app.state.predictor

    # ------------------------------------------------------------ errors
    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(NeedLogin)
    async def _login(request: Request, exc: NeedLogin):
        if wants_json(request):
            return JSONResponse({"detail": "sign in first (POST /api/v1/session)"}, status_code=401)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    def _plain(status: int):
        async def handler(request: Request, exc: Exception):
            if wants_json(request):
                return JSONResponse({"detail": str(exc)}, status_code=status)
            return templates.TemplateResponse(request, "error.html", {"status": status, "message": str(exc)},
                                              status_code=status)
        return handler

    @app.exception_handler(svc.Forbidden)
    async def _forbidden(request: Request, exc: svc.Forbidden):
        with sessions.begin() as db:  # the refusal is kept although the request is rolled back
            db.add(AuditEntry(**exc.entry, detail={"path": request.url.path, "method": request.method,
                                                   "why": exc.why}))
        log.warning("refused: %s", exc.why)
        return await _plain(403)(request, exc)

    app.add_exception_handler(svc.NotFound, _plain(404))
    app.add_exception_handler(svc.Conflict, _plain(409))
    app.add_exception_handler(StaleDataError, _plain(409))

    def device_body(out: svc.DeviceOutcome) -> JSONResponse:
        body = {"accepted": out.accepted, "reason": out.reason, "warnings": out.warnings}
        return JSONResponse(body, status_code=200 if out.accepted else 409)

    # ------------------------------------------------------------ API
    api = APIRouter(prefix="/api/v1", tags=["api"], route_class=CommitFirst)

    @api.post("/session")
    def api_login(body: Login, db: Session = Depends(get_db)):
        user = auth.check_password(db, body.username, body.password)
        if user is None:
            svc.audit(db, None, "login.failed", None, allowed=False, username=body.username)
            return JSONResponse({"detail": "unknown username or wrong password"}, status_code=401)
        token, web = auth.open_session(db, user)
        svc.audit(db, user, "login", None)
        resp = JSONResponse({"username": user.username, "role": user.role, "csrf_token": web.csrf_token})
        resp.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies)
        return resp

    @api.delete("/session")
    def api_logout(request: Request, c: Ctx = Depends(ctx)):
        auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
        svc.audit(c.db, c.user, "logout", None)
        resp = JSONResponse({"signed_out": True})
        resp.delete_cookie(auth.SESSION_COOKIE)
        return resp

    @api.get("/patients")
    def api_patients(c: Ctx = Depends(ctx)):
        return [patient_json(c.db, p) for p in svc.list_patients(c.db, c.user)]

    @api.post("/patients", status_code=201)
    def api_new_patient(body: PatientIn, c: Ctx = Depends(ctx)):
        return patient_json(c.db, svc.create_patient(c.db, c.user, body))

    @api.get("/patients/{pid}")
    def api_patient(pid: int, c: Ctx = Depends(ctx)):
        return patient_json(c.db, svc.patient_for(c.db, c.user, pid, "patient.read"), full=True)

    @api.put("/patients/{pid}/painmap")
    def api_painmap(pid: int, body: PainMapIn, c: Ctx = Depends(ctx)):
        return {"nrs": svc.save_pain_map(c.db, c.user, pid, body.nrs).nrs}

    @api.post("/patients/{pid}/screening")
    def api_screening(pid: int, body: ScreeningIn, c: Ctx = Depends(ctx)):
        s = svc.screen(c.db, c.user, pid, body)
        return {"eligible": s.eligible, "criteria": s.criteria}

    @api.get("/patients/{pid}/plan/recommended")
    def api_recommended(pid: int, c: Ctx = Depends(ctx)):
        svc.patient_for(c.db, c.user, pid, "plan.read", clinician_only=True)
        return svc.recommend(svc.current_pain(c.db, pid))

    @api.post("/patients/{pid}/plan")
    def api_plan(pid: int, body: PlanIn, c: Ctx = Depends(ctx)):
        return {"targets": svc.save_plan(c.db, c.user, pid, body).targets}

    @api.post("/patients/{pid}/trial", status_code=201)
    def api_trial(pid: int, body: TrialIn, c: Ctx = Depends(ctx)):
        t = svc.start_trial(c.db, c.user, pid, body)
        return trial_json(c.db, t)

    @api.post("/patients/{pid}/diary", status_code=201)
    def api_diary(pid: int, body: DiaryIn, c: Ctx = Depends(ctx)):
        e = svc.add_diary(c.db, c.user, pid, body)
        return {"day": e.day.isoformat(), "nrs": e.nrs}

    @api.get("/patients/{pid}/trial")
    def api_trial_read(pid: int, c: Ctx = Depends(ctx)):
        svc.patient_for(c.db, c.user, pid, "trial.read")
        t = svc.active_trial(c.db, pid)
        if t is None:
            raise svc.NotFound(f"patient {pid} has no trial")
        return trial_json(c.db, t)

    @api.post("/patients/{pid}/trial/decision")
    def api_decide(pid: int, body: DecisionIn, c: Ctx = Depends(ctx)):
        d = svc.decide(c.db, c.user, pid, body)
        return {"relief_pct": d.relief_pct, "meets_rule": d.meets_rule, "proceed": d.proceed}

    @api.post("/patients/{pid}/implant", status_code=201)
    def api_implant(pid: int, body: ImplantIn, c: Ctx = Depends(ctx)):
        return implant_json(svc.implant(c.db, c.user, pid, body))

    @api.post("/patients/{pid}/ipg-replacement", status_code=201)
    def api_replace(pid: int, body: ReplacementIn, c: Ctx = Depends(ctx)):
        return implant_json(svc.replace_ipg(c.db, c.user, pid, body))

    @api.post("/patients/{pid}/programs")
    def api_program(pid: int, body: ProgramIn, c: Ctx = Depends(ctx)):
        return device_body(svc.create_program(c.db, c.user, pid, body.name))

    @api.put("/patients/{pid}/programs/{name}/leads/{lead}")
    def api_program_lead(pid: int, name: str, lead: int, body: LeadIn, c: Ctx = Depends(ctx)):
        return device_body(svc.program_lead(c.db, c.user, pid, name, lead, body))

    @api.post("/patients/{pid}/therapy")
    def api_therapy(pid: int, body: TherapyIn, c: Ctx = Depends(ctx)):
        return device_body(svc.set_therapy(c.db, c.user, pid, body))

    @api.post("/patients/{pid}/amplitude")
    def api_step(pid: int, body: StepIn, c: Ctx = Depends(ctx)):
        return device_body(svc.step_amplitude(c.db, c.user, pid, body))

    @api.get("/patients/{pid}/device")
    def api_device(pid: int, c: Ctx = Depends(ctx)):
        _, row = svc.device_of(c.db, c.user, pid, "device.read", clinician_only=False)
        return device_json(row)

    @api.get("/patients/{pid}/device/events")
    def api_events(pid: int, c: Ctx = Depends(ctx)):
        return [e.event for e in svc.device_events(c.db, c.user, pid)]

    @api.get("/patients/{pid}/prediction")
    def api_prediction(pid: int, program: str, c: Ctx = Depends(ctx)):
        return prediction(c, pid, program).model_dump(mode="json")

    @api.post("/patients/{pid}/followups", status_code=201)
    def api_followup(pid: int, body: FollowUpIn, c: Ctx = Depends(ctx)):
        return {"id": svc.add_follow_up(c.db, c.user, pid, body).id}

    @api.post("/patients/{pid}/adverse-events", status_code=201)
    def api_adverse(pid: int, body: AdverseEventIn, c: Ctx = Depends(ctx)):
        return {"id": svc.add_adverse_event(c.db, c.user, pid, body).id}

    @api.get("/audit")
    def api_audit(c: Ctx = Depends(ctx), limit: int = Query(100, ge=1, le=1000)):
        svc.require_clinician(c.user, "audit.read")
        return [audit_json(a) for a in svc.audit_entries(c.db, c.user, limit)]

    app.include_router(api)

    # ------------------------------------------------------------ JSON views
    def iso(d: date | datetime | None) -> str | None:
        return None if d is None else d.isoformat()

    def device_json(row) -> dict[str, Any]:
        dev = svc.load_device(row)
        st = dev.status()
        return {"serial": row.serial, "kind": row.kind, "model": row.model_id, "leads": row.leads,
                "status": st.model_dump(mode="json"), "programs": dev.snapshot()["programs"]}

    def implant_json(rec: ImplantRecord) -> dict[str, Any]:
        return {"device": rec.device.serial, "implant_date": iso(rec.implant_date),
                "projected_replacement_date": iso(rec.projected_replacement_date)}

    def trial_json(db: Session, t) -> dict[str, Any]:
        r = svc.relief(t)
        d = svc.decision_of(db, t)
        return {"id": t.id, "status": t.status, "start_date": iso(t.start_date),
                "planned_end_date": iso(t.planned_end_date), "targets": t.targets, "baseline_nrs": t.baseline_nrs,
                "diary": [{"day": iso(e.day), "nrs": e.nrs, "medication": e.medication,
                           "activity_minutes": e.activity_minutes} for e in t.diary],
                "relief": r.__dict__, "decision": None if d is None else
                {"proceed": d.proceed, "relief_pct": d.relief_pct, "meets_rule": d.meets_rule, "note": d.note}}

    def patient_json(db: Session, p: Patient, full: bool = False) -> dict[str, Any]:
        out = {"id": p.id, "name": p.name, "birth_year": p.birth_year, "sex": p.sex, "diagnosis": p.diagnosis,
               "stage": p.stage}
        if full:
            t = svc.active_trial(db, p.id)
            imp = svc.latest(db, ImplantRecord, p.id)
            plan = svc.latest(db, PlanRecord, p.id)
            scr = svc.latest(db, Screening, p.id)
            out.update(pain_map=svc.current_pain(db, p.id), plan=plan.targets if plan else None,
                       screening=None if scr is None else {"eligible": scr.eligible, "criteria": scr.criteria},
                       trial=None if t is None else trial_json(db, t),
                       implant=None if imp is None else implant_json(imp),
                       follow_ups=[{"visit_date": iso(f.visit_date), "nrs": f.nrs, "odi_pct": f.odi_pct,
                                    "eq5d": f.eq5d} for f in svc.records(db, FollowUp, p.id)],
                       adverse_events=[{"onset_date": iso(a.onset_date), "kind": a.kind, "severity": a.severity,
                                        "resolved": a.resolved} for a in svc.records(db, AdverseEvent, p.id)])
        return out

    def audit_json(a: AuditEntry) -> dict[str, Any]:
        return {"at": iso(a.at), "username": a.username, "role": a.role, "action": a.action,
                "patient_id": a.patient_id, "allowed": a.allowed, "detail": a.detail}

    def prediction(c: Ctx, pid: int, program: str, wait_s: float = 0.3):
        from drgsim.clinic.predict import LeadAt, PredictionRequest

        _, row = svc.device_of(c.db, c.user, pid, "prediction", clinician_only=True)
        progs = row.state.get("programs", {})
        if program not in progs:
            raise svc.NotFound(f"program {program!r} does not exist")
        req = PredictionRequest(pain=svc.current_pain(c.db, pid),
                                leads=[LeadAt(lead=x["lead"], level=x["level"], side=x["side"]) for x in row.leads],
                                program=Program.model_validate(progs[program]))
        try:
            return predictor_().predict(req, wait_s=wait_s)
        except ValueError as err:
            raise svc.Conflict(str(err)) from None

    # ------------------------------------------------------------ pages
    def render(request: Request, c: Ctx | None, name: str, http_status: int = 200, **context) -> HTMLResponse:
        base = {"user": c.user if c else None, "csrf": c.web.csrf_token if c else ""}
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=http_status)

    def fields(form: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in form.items() if k != "csrf_token"}

    def parse(model: type[BaseModel], data: dict[str, Any]) -> tuple[BaseModel | None, dict[str, str]]:
        try:
            return model.model_validate(data), {}
        except ValidationError as err:
            return None, {".".join(str(x) for x in e["loc"]) or "form": f"{e['msg']}" +
                          (f" (got {e['input']!r})" if not isinstance(e.get("input"), dict) else "")
                          for e in err.errors()}

    def see(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    pages = APIRouter(include_in_schema=False, route_class=CommitFirst)

    @pages.get("/", response_class=HTMLResponse)
    def home(c: Ctx = Depends(ctx)):
        return see("/clinician" if c.user.role == "clinician" else "/patient")

    @pages.get("/login", response_class=HTMLResponse)
    def login_page(request: Request):
        token = secrets.token_urlsafe(24)
        resp = render(request, None, "login.html", login_csrf=token, error=None)
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies)
        return resp

    @pages.post("/login", response_class=HTMLResponse)
    def login_submit(request: Request, db: Session = Depends(get_db), form: dict = Depends(form_data)):
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf_token", ""))):
            return render(request, None, "login.html", 403, login_csrf=cookie or "", error="the form expired; reload")
        user = auth.check_password(db, str(form.get("username", "")), str(form.get("password", "")))
        if user is None:
            svc.audit(db, None, "login.failed", None, allowed=False, username=str(form.get("username", ""))[:64])
            return render(request, None, "login.html", 401, login_csrf=cookie, error="unknown username or wrong password")
        token, _ = auth.open_session(db, user)
        svc.audit(db, user, "login", None)
        resp = see("/")
        resp.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies)
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @pages.post("/logout")
    def logout(request: Request, c: Ctx = Depends(ctx)):
        auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
        svc.audit(c.db, c.user, "logout", None)
        resp = see("/login")
        resp.delete_cookie(auth.SESSION_COOKIE)
        return resp

    def trial_status(db: Session, p: Patient) -> str:
        t = svc.active_trial(db, p.id)
        if t is None:
            return "no trial"
        r = svc.relief(t)
        if t.status == "active":
            days = (t.planned_end_date - t.start_date).days
            relief = "" if r.relief_pct is None else f", relief {r.relief_pct:.0f}%"
            return f"trial day {len(t.diary)}/{days}{relief}"
        d = svc.decision_of(db, t)
        return f"trial {'succeeded' if d.proceed else 'failed'} ({d.relief_pct:.0f}% relief)"

    @pages.get("/clinician", response_class=HTMLResponse)
    def clinician_home(request: Request, c: Ctx = Depends(ctx)):
        rows = [(p, trial_status(c.db, p)) for p in svc.list_patients(c.db, c.user)]
        return render(request, c, "clinician.html", rows=rows, errors={}, values={})

    @pages.post("/clinician/patients", response_class=HTMLResponse)
    def clinician_new_patient(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        data = fields(form)
        body, errors = parse(PatientIn, data)
        if errors:
            rows = [(p, trial_status(c.db, p)) for p in svc.list_patients(c.db, c.user)]
            return render(request, c, "clinician.html", 422, rows=rows, errors=errors, values=data)
        p = svc.create_patient(c.db, c.user, body)
        return see(f"/clinician/patients/{p.id}")

    def patient_context(c: Ctx, p: Patient) -> dict[str, Any]:
        db = c.db
        t = svc.active_trial(db, p.id)
        imp = svc.latest(db, ImplantRecord, p.id)
        row = svc.active_device(db, p)
        battery = None
        if imp is not None:
            dev = svc.load_device(imp.device)
            battery = {"status": dev.battery_status(), "estimate": dev.battery_estimate(),
                       "replacement": imp.projected_replacement_date}
        pain = svc.current_pain(db, p.id)
        return {"p": p, "pain": pain, "screening": svc.latest(db, Screening, p.id),
                "plan": svc.latest(db, PlanRecord, p.id), "recommended": svc.recommend(pain),
                "trial": t, "relief": svc.relief(t) if t else None, "decision": svc.decision_of(db, t),
                "implant": imp, "device": row, "battery": battery, "implants": svc.records(db, ImplantRecord, p.id),
                "programs": sorted((row.state.get("programs") or {}) if row else {}),
                "follow_ups": svc.records(db, FollowUp, p.id), "adverse": svc.records(db, AdverseEvent, p.id),
                "events": svc.device_events(db, c.user, p.id, limit=15),
                "audit": svc.audit_entries(db, c.user, limit=15, patient_id=p.id)}

    def painmap_svg(pid: int, pain: dict[str, int]) -> str:
        def attrs(region: str) -> dict[str, str]:
            return {"hx-post": f"/clinician/patients/{pid}/painmap/region", "hx-vals": f'{{"region": "{region}"}}',
                    "hx-include": "#nrs-brush", "hx-target": "#painmap", "hx-swap": "outerHTML"}
        return body_map_svg(pain, region_attrs=attrs)

    def compare_panel(request: Request, c: Ctx, pid: int) -> HTMLResponse:
        state, error = app.state.comparisons.status(pid)
        folder = report_dir(pid)
        files = sorted(f.name for f in folder.glob("*.png")) if state == "done" else []
        return render(request, c, "_compare.html", pid=pid, state=state, error=error, files=files,
                      summary=app.state.comparisons.summary(pid) if state == "done" else None,
                      quality=app.state.quality)

    @pages.get("/clinician/patients/{pid}/compare", response_class=HTMLResponse)
    def compare_status(request: Request, pid: int, c: Ctx = Depends(ctx)):
        svc.patient_for(c.db, c.user, pid, "compare.read", clinician_only=True)
        return compare_panel(request, c, pid)

    @pages.post("/clinician/patients/{pid}/compare", response_class=HTMLResponse)
    def compare_start(request: Request, pid: int, c: Ctx = Depends(ctx)):
        svc.patient_for(c.db, c.user, pid, "compare.run", clinician_only=True)
        pain = svc.current_pain(c.db, pid)
        if not pain:
            raise svc.Conflict("draw the pain map before comparing DRG and SCS")
        app.state.comparisons.start(pid, pain)
        svc.audit(c.db, c.user, "compare.run", pid, pain=pain, quality=app.state.quality)
        return compare_panel(request, c, pid)

    @pages.get("/clinician/patients/{pid}/reports/{name}")
    def report_figure(pid: int, name: str, c: Ctx = Depends(ctx)):
        svc.patient_for(c.db, c.user, pid, "compare.read", clinician_only=True)
        path = report_dir(pid) / name
        if "/" in name or not name.endswith(".png") or not path.is_file():
            raise svc.NotFound(f"no figure {name!r}")
        return FileResponse(path, media_type="image/png")

    def patient_view(request: Request, c: Ctx, pid: int, http_status: int = 200, errors=None,
                     values=None) -> HTMLResponse:
        """The patient page; after a bad form, with the form's errors and the values typed."""
        ctx_ = patient_context(c, svc.patient_for(c.db, c.user, pid, "patient.read", clinician_only=True))
        return render(request, c, "patient.html", http_status, errors=errors or {}, values=values or {},
                      svg=painmap_svg(pid, ctx_["pain"]), **ctx_)

    @pages.get("/clinician/patients/{pid}", response_class=HTMLResponse)
    def patient_page(request: Request, pid: int, c: Ctx = Depends(ctx)):
        return patient_view(request, c, pid)

    @pages.post("/clinician/patients/{pid}/painmap/region", response_class=HTMLResponse)
    def painmap_region(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        p = svc.patient_for(c.db, c.user, pid, "painmap.save", clinician_only=True)
        body, errors = parse(RegionIn, fields(form))
        if not errors:
            try:
                svc.set_region(c.db, c.user, p.id, body.region, body.nrs)
            except ValueError as err:
                errors = {"region": str(err)}
        pain = svc.current_pain(c.db, p.id)
        return render(request, c, "_painmap.html", 422 if errors else 200, p=p, svg=painmap_svg(p.id, pain),
                      pain=pain, pm_errors=errors)

    def form_step(name: str, model: type[BaseModel], action: Callable[[Ctx, int, Any], Any],
                  prepare: Callable[[dict[str, Any]], dict[str, Any]] = lambda d: d):
        def handler(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
            data = prepare(fields(form))
            body, errors = parse(model, data)
            if not errors:
                action(c, pid, body)
                return see(f"/clinician/patients/{pid}#{name}")
            return patient_view(request, c, pid, 422, errors={name: errors}, values={name: data})
        pages.add_api_route(f"/clinician/patients/{{pid}}/{name}", handler, methods=["POST"],
                            response_class=HTMLResponse)

    def checkboxes(*names: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def prep(d: dict[str, Any]) -> dict[str, Any]:
            return {**d, **{n: n in d for n in names}}
        return prep

    def plan_prep(d: dict[str, Any]) -> dict[str, Any]:
        return {"targets": [dict(zip(("level", "side"), k.split(":"))) for k in d if ":" in k]}

    form_step("screening", ScreeningIn, lambda c, pid, b: svc.screen(c.db, c.user, pid, b),
              checkboxes("neuropathic", "failed_injections", "failed_therapy", "psych_screened"))
    form_step("plan", PlanIn, lambda c, pid, b: svc.save_plan(c.db, c.user, pid, b), plan_prep)
    form_step("trial", TrialIn, lambda c, pid, b: svc.start_trial(c.db, c.user, pid, b))
    form_step("decision", DecisionIn, lambda c, pid, b: svc.decide(c.db, c.user, pid, b))
    form_step("implant", ImplantIn, lambda c, pid, b: svc.implant(c.db, c.user, pid, b))
    form_step("ipg-replacement", ReplacementIn, lambda c, pid, b: svc.replace_ipg(c.db, c.user, pid, b))
    form_step("followups", FollowUpIn, lambda c, pid, b: svc.add_follow_up(c.db, c.user, pid, b),
              checkboxes("reprogrammed"))
    form_step("adverse-events", AdverseEventIn, lambda c, pid, b: svc.add_adverse_event(c.db, c.user, pid, b),
              checkboxes("resolved"))

    # ------------------------------------------------------------ programming
    def programming_context(c: Ctx, pid: int, program: str | None, dev=None) -> dict[str, Any]:
        """The programming page of ``program``; ``dev``: the device an action has just left (not loaded again)."""
        p, row = svc.device_of(c.db, c.user, pid, "program.read", clinician_only=True)
        dev = dev or svc.load_device(row)
        names = sorted(dev.state.programs)
        program = program if program in names else (dev.state.active_program or (names[0] if names else None))
        safety = dev.safety_report(program) if program else []
        leads = dev.program(program).leads if program else {}
        return {"p": p, "row": row, "dev": dev, "model": dev.model, "program": program, "programs": names,
                "leads": leads, "lead_info": {x["lead"]: x for x in row.leads}, "safety": {s.lead: s for s in safety},
                "status": dev.status(), "pain": svc.current_pain(c.db, pid)}

    @pages.get("/clinician/patients/{pid}/programming", response_class=HTMLResponse)
    def programming_page(request: Request, pid: int, program: str | None = None, c: Ctx = Depends(ctx)):
        return render(request, c, "programming.html", result=None, **programming_context(c, pid, program))

    @pages.post("/clinician/patients/{pid}/programming", response_class=HTMLResponse)
    def programming_new(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        body, errors = parse(ProgramIn, fields(form))
        if errors:
            return render(request, c, "programming.html", 422, result=svc.DeviceOutcome(False, errors["name"], []),
                          **programming_context(c, pid, None))
        out = svc.create_program(c.db, c.user, pid, body.name)
        return render(request, c, "programming.html", result=out,
                      **programming_context(c, pid, body.name, out.device))

    @pages.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}", response_class=HTMLResponse)
    def programming_lead(request: Request, pid: int, program: str, lead: int, c: Ctx = Depends(ctx),
                         form: dict = Depends(form_data)):
        data = fields(form)
        data["contacts"] = "".join(data.pop(f"c{i}", "0") for i in range(1, 5))
        data["enabled"] = "enabled" in data
        data["override"] = "override" in data
        body, errors = parse(LeadIn, data)
        if errors:
            out = svc.DeviceOutcome(False, "; ".join(f"{k}: {v}" for k, v in errors.items()), [])
            return render(request, c, "_programming_panel.html", 422, result=out,
                          **programming_context(c, pid, program))
        out = svc.program_lead(c.db, c.user, pid, program, lead, body)
        return render(request, c, "_programming_panel.html", result=out,
                      **programming_context(c, pid, program, out.device))

    @pages.post("/clinician/patients/{pid}/programming/{program}/activate", response_class=HTMLResponse)
    def programming_activate(request: Request, pid: int, program: str, c: Ctx = Depends(ctx)):
        out = svc.set_therapy(c.db, c.user, pid, TherapyIn(on=True, program=program))
        return render(request, c, "_programming_panel.html", result=out,
                      **programming_context(c, pid, program, out.device))

    @pages.get("/clinician/patients/{pid}/programming/{program}/prediction", response_class=HTMLResponse)
    def programming_prediction(request: Request, pid: int, program: str, c: Ctx = Depends(ctx)):
        pred = prediction(c, pid, program)
        pain = svc.current_pain(c.db, pid)
        svg = body_map_svg(pain, pred.paresthesia or None) if pred.status == "ready" else None
        return render(request, c, "_prediction.html", pred=pred, svg=svg, pid=pid, program=program)

    # ------------------------------------------------------------ patient controller and diary
    def controller_context(c: Ctx, p: Patient | None = None, dev=None) -> dict[str, Any]:
        """The controller; ``dev``: the device an action has just left (not loaded again)."""
        p = p or svc.own_patient(c.db, c.user)
        row = svc.active_device(c.db, p)
        dev = dev or (svc.load_device(row) if row else None)
        t = svc.active_trial(c.db, p.id)
        return {"p": p, "row": row, "dev": dev, "status": dev.status() if dev else None,
                "program": dev.program(dev.state.active_program) if dev and dev.state.active_program else None,
                "trial": t if t is not None and t.status == "active" else None, "errors": {}}

    @pages.get("/patient", response_class=HTMLResponse)
    def controller(request: Request, c: Ctx = Depends(ctx)):
        return render(request, c, "controller.html", result=None, **controller_context(c))

    def controller_action(request: Request, c: Ctx, form: dict, model: type[BaseModel], act) -> HTMLResponse:
        """A tap on the controller: the device's answer (or the form's errors) over the refreshed controller."""
        p = svc.own_patient(c.db, c.user)
        body, errors = parse(model, fields(form))
        out = svc.DeviceOutcome(False, "; ".join(errors.values()), []) if errors else act(c.db, c.user, p.id, body)
        with c.db.no_autoflush:  # the write is flushed at the commit: SQLite's write lock is not held while rendering
            return render(request, c, "_controller.html", result=out, **controller_context(c, p, out.device))

    @pages.post("/patient/amplitude", response_class=HTMLResponse)
    def controller_step(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        return controller_action(request, c, form, StepIn, svc.step_amplitude)

    @pages.post("/patient/therapy", response_class=HTMLResponse)
    def controller_therapy(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        return controller_action(request, c, form, TherapyIn, svc.set_therapy)

    @pages.post("/patient/diary", response_class=HTMLResponse)
    def controller_diary(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        p = svc.own_patient(c.db, c.user)
        data = fields(form)
        body, errors = parse(DiaryIn, data)
        if not errors:
            try:
                svc.add_diary(c.db, c.user, p.id, body)
            except svc.Conflict as err:
                errors = {"day": str(err)}
        context = controller_context(c, p)
        context["errors"] = errors
        return render(request, c, "_diary.html", 422 if errors else 200, values=data if errors else {},
                      saved=None if errors else body, **context)

    app.include_router(pages)

    @app.get("/health", include_in_schema=False)
    def health():
        return {"ok": True, "time": datetime.now(timezone.utc).isoformat()}

    return app
