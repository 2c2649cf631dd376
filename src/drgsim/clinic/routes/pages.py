"""The clinician's pages (server-rendered, HTMX): the patient list, the patient page with its pathway
forms, the clickable pain map and the DRG-versus-SCS comparison."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from drgsim.anatomy.levels import Side
from drgsim.anatomy.painmap import PainMap
from drgsim.clinic import service as svc
from drgsim.clinic.charts import nrs_chart_svg
from drgsim.clinic.deps import CommitFirst, Ctx, ctx, fields, form_data, parse, render, see, templates
from drgsim.clinic.models import AdverseEvent, FollowUp, ImplantRecord, Patient, PlanRecord, Screening
from drgsim.clinic.reports import report_dir
from drgsim.clinic.schemas import (
    STAGES,
    AdverseEventIn,
    DecisionIn,
    FollowUpIn,
    ImplantIn,
    PatientIn,
    PatientSearchIn,
    PlanIn,
    RegionIn,
    ReplacementIn,
    ScreeningIn,
    TrialIn,
)
from drgsim.clinic.svgmap import body_map_svg
from drgsim.clinic.visit import visit_report

router = APIRouter(include_in_schema=False, route_class=CommitFirst)
templates.env.filters["diagnosis"] = svc.diagnosis_label


@router.get("/", response_class=HTMLResponse)
def home(c: Ctx = Depends(ctx)):
    return see("/clinician" if c.user.role == "clinician" else "/patient")


# ------------------------------------------------------------ patient list
def patient_rows(c: Ctx, query: dict[str, Any]) -> tuple[list, dict[str, str]]:
    """The list's rows (patient, trial status) for the search ``query`` (the form's fields), or its errors."""
    body, errors = parse(PatientSearchIn, {k: v for k, v in query.items() if v != ""})
    if errors:
        return [], errors
    return [(p, svc.trial_status(c.db, p.id)) for p in svc.list_patients(c.db, c.user, body)], {}


def patient_list(request: Request, c: Ctx, name: str, http_status: int = 200, **context) -> HTMLResponse:
    """The list (``clinician.html``) or only its table (``_patients.html``, the live filter's answer)."""
    search = dict(request.query_params)
    rows, search_errors = patient_rows(c, search)
    return render(request, c, name, 422 if search_errors else http_status, rows=rows, search=search,
                  search_errors=search_errors, stages=STAGES, **context)


@router.get("/clinician", response_class=HTMLResponse)
def clinician_home(request: Request, c: Ctx = Depends(ctx)):
    return patient_list(request, c, "clinician.html", errors={}, values={})


@router.get("/clinician/search", response_class=HTMLResponse)
def clinician_search(request: Request, c: Ctx = Depends(ctx)):
    """The live filter of the list: the table for the words typed and the stage and diagnosis chosen."""
    return patient_list(request, c, "_patients.html")


@router.post("/clinician/patients", response_class=HTMLResponse)
def clinician_new_patient(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    data = fields(form)
    body, errors = parse(PatientIn, data)
    if errors:
        return patient_list(request, c, "clinician.html", http_status=422, errors=errors, values=data)
    p = svc.create_patient(c.db, c.user, body)
    return see(f"/clinician/patients/{p.id}")


# ------------------------------------------------------------ patient page
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
    recommended = svc.recommend(pain)
    history = svc.nrs_history(db, p.id)
    return {"nrs_history": history, "nrs_chart": nrs_chart_svg(history),
            "p": p, "pain": pain, "screening": svc.latest(db, Screening, p.id),
            "plan": svc.latest(db, PlanRecord, p.id), "recommended": recommended,
            "recommended_keys": {f"{t['level']}:{t['side']}" for t in recommended}, "sides": [s.value for s in Side],
            "trial": t, "relief": svc.relief(t) if t else None, "decision": svc.decision_of(db, t),
            "implant": imp, "device": row, "battery": battery, "implants": svc.records(db, ImplantRecord, p.id),
            "programs": sorted((row.state.get("programs") or {}) if row else {}),
            "follow_ups": svc.records(db, FollowUp, p.id), "adverse": svc.records(db, AdverseEvent, p.id),
            "events": svc.device_events(db, c.user, p.id, limit=15),
            "audit": svc.audit_entries(db, c.user, limit=15, patient_id=p.id)}


@router.get("/clinician/patients/{pid}/report", response_class=HTMLResponse)
def session_report(request: Request, pid: int, day: str | None = Query(None, alias="date"), c: Ctx = Depends(ctx)):
    """The printable session report of the visit on ``date`` (YYYY-MM-DD; default today)."""
    return render(request, c, "report.html", **visit_report(c.db, c.user, pid, day))


def painmap_svg(pid: int, pain: PainMap | None) -> str:
    """The body map; a click on a region paints it with the brush's NRS."""
    def attrs(region: str) -> dict[str, str]:
        return {"hx-post": f"/clinician/patients/{pid}/painmap/region", "hx-vals": f'{{"region": "{region}"}}',
                "hx-include": "#nrs-brush", "hx-target": "#painmap", "hx-swap": "outerHTML"}
    return body_map_svg(pain.nrs if pain else None, region_attrs=attrs)


def patient_view(request: Request, c: Ctx, pid: int, http_status: int = 200, errors=None,
                 values=None, temporary_password: str | None = None) -> HTMLResponse:
    """The patient page; after a bad form, with the form's errors and the values typed; after a password
    reset, with the temporary password (this answer only)."""
    context = patient_context(c, svc.patient_for(c.db, c.user, pid, "patient.read", clinician_only=True))
    return render(request, c, "patient.html", http_status, errors=errors or {}, values=values or {},
                  svg=painmap_svg(pid, context["pain"]), temporary_password=temporary_password, **context)


@router.get("/clinician/patients/{pid}", response_class=HTMLResponse)
def patient_page(request: Request, pid: int, c: Ctx = Depends(ctx)):
    return patient_view(request, c, pid)


@router.post("/clinician/patients/{pid}/painmap/region", response_class=HTMLResponse)
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
                  pain=pain, pm_errors=errors, brush=brush_of(form))


def brush_of(form: dict) -> int | None:
    """The brush's NRS as sent with the click (kept for the next click); None when not a valid NRS."""
    raw = str(form.get("nrs", "")).strip()
    return int(raw) if raw.isdigit() and 0 <= int(raw) <= 10 else None


# ------------------------------------------------------------ DRG versus SCS
COMPARE_ROWS = [("pain_coverage_pct", "pain coverage (%)", "{:.0f}"), ("off_target_pct", "off-target (%)", "{:.0f}"),
                ("paresthesia_area_ratio", "paresthesia / pain area", "{:.1f}"),
                ("average_current_ua", "average current (uA)", "{:.1f}")]


def _num(value: Any, form: str = "{:.1f}") -> str:
    """A number as text; '-' for a missing or non-numeric value (never a dict's repr)."""
    return form.format(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _sort_nrs(value: Any) -> float:
    return value if isinstance(value, (int, float)) else 0.0


def battery_cell(side: dict[str, Any]) -> str:
    """One system's battery life on its own IPG, saying which cell (as ``therapy.compare``'s battery claim)."""
    years, days = _num(side.get("battery_years")), side.get("recharge_interval_days")
    if isinstance(days, (int, float)) and days:
        return f"{years} years between replacements (rechargeable, recharged every {days:g} days)"
    return f"{years} years on its primary cell (no recharging)"


def compare_view(summary: dict[str, Any], p: Patient) -> dict[str, Any]:
    """The panel's text: labels for codes, numbers formatted, the battery readings of the report."""
    drg, scs = summary.get("drg") or {}, summary.get("scs") or {}
    pain = summary.get("pain") or {}
    rows = [(label, _num(drg.get(k), f), _num(scs.get(k), f)) for k, label, f in COMPARE_ROWS]
    rows.append(("battery life, each on its own IPG", battery_cell(drg), battery_cell(scs)))
    rows.append(("years on the DRG IPG's primary cell (like for like)", _num(drg.get("primary_cell_years")),
                 _num(scs.get("primary_cell_years"))))
    claim = next((cl.get("statement") for cl in summary.get("claims") or []
                  if isinstance(cl, dict) and cl.get("measure") == "battery_years"), None)
    return {"diagnosis": svc.diagnosis_label(p.diagnosis), "quality": str(summary.get("quality", "")),
            "pain": ", ".join(f"{str(r).replace('_', ' ')} {_num(n, '{:g}')}" for r, n in
                             sorted(pain.items(), key=lambda rn: (-_sort_nrs(rn[1]), str(rn[0])))) or "none",
            "rows": rows, "battery_claim": claim}


def compare_panel(request: Request, c: Ctx, pid: int) -> HTMLResponse:
    comparisons = request.app.state.comparisons
    state, error = comparisons.status(pid)
    files = sorted(f.name for f in report_dir(pid).glob("*.png")) if state == "done" else []
    summary = comparisons.summary(pid) if state == "done" else None
    view = compare_view(summary, c.db.get(Patient, pid)) if summary else None
    progress = comparisons.progress(pid) if state == "running" else None
    return render(request, c, "_compare.html", pid=pid, state=state, error=error, files=files,
                  summary=summary, view=view, quality=request.app.state.quality, progress=progress)


@router.get("/clinician/patients/{pid}/compare", response_class=HTMLResponse)
def compare_status(request: Request, pid: int, c: Ctx = Depends(ctx)):
    svc.patient_for(c.db, c.user, pid, "compare.read", clinician_only=True)
    return compare_panel(request, c, pid)


@router.post("/clinician/patients/{pid}/compare", response_class=HTMLResponse)
def compare_start(request: Request, pid: int, c: Ctx = Depends(ctx)):
    svc.patient_for(c.db, c.user, pid, "compare.run", clinician_only=True)
    pain = svc.current_pain(c.db, pid)
    if pain is None:
        raise svc.Conflict("draw the pain map before comparing DRG and SCS")
    request.app.state.comparisons.start(pid, pain)
    svc.audit(c.db, c.user, "compare.run", pid, pain=dict(pain.nrs), quality=request.app.state.quality)
    return compare_panel(request, c, pid)


@router.get("/clinician/patients/{pid}/reports/{name}")
def report_figure(pid: int, name: str, c: Ctx = Depends(ctx)):
    svc.patient_for(c.db, c.user, pid, "compare.read", clinician_only=True)
    path = report_dir(pid) / name
    if "/" in name or not name.endswith(".png") or not path.is_file():
        raise svc.NotFound(f"no figure {name!r}")
    return FileResponse(path, media_type="image/png")


# ------------------------------------------------------------ pathway forms
def unconfirmed(name: str, data: dict[str, Any]) -> dict[str, str]:
    """A form that needs its ``confirm`` box ticked (checked here: the CSP allows no inline confirm script)."""
    if data.pop("confirm", None) is None:
        return {"confirm": f"confirm=unticked; allowed: ticked (tick it to record the {name.replace('-', ' ')})"}
    return {}


def form_step(name: str, model: type[BaseModel], action: Callable[[Ctx, int, Any], Any],
              prepare: Callable[[dict[str, Any]], dict[str, Any]] = lambda d: d, *, confirm: bool = False) -> None:
    """POST /clinician/patients/{pid}/{name}: the form as ``model``, then ``action``; back to the patient page.
    A bad value answers 422 and a step the pathway does not allow now 409, both on the whole patient page.
    A GET of the URL (a reload after an error) is sent to the patient page (``app._http_error``)."""
    def handler(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
        data = prepare(fields(form))
        errors = unconfirmed(name, data) if confirm else {}
        body, errors = (None, errors) if errors else parse(model, data)
        status = 422
        if not errors:
            try:
                action(c, pid, body)
                return see(f"/clinician/patients/{pid}#{name}")
            except svc.InvalidInput as err:  # a value outside the pathway's window (checked before any write)
                errors = {err.field: str(err)}
            except svc.Conflict as err:  # nothing was written: the page again, with the reason
                c.db.rollback()
                errors, status = {"form": str(err)}, 409
        return patient_view(request, c, pid, status, errors={name: errors}, values={name: data})
    router.add_api_route(f"/clinician/patients/{{pid}}/{name}", handler, methods=["POST"], response_class=HTMLResponse)


def checkboxes(*names: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An unticked box is absent from the form: absent is False."""
    def prep(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, **{n: n in d for n in names}}
    return prep


def plan_prep(d: dict[str, Any]) -> dict[str, Any]:
    """Ticked ``level:side`` boxes as targets."""
    return {"targets": [dict(zip(("level", "side"), k.split(":"))) for k in d if ":" in k]}


form_step("screening", ScreeningIn, lambda c, pid, b: svc.screen(c.db, c.user, pid, b),
          checkboxes("neuropathic", "failed_injections", "failed_therapy", "psych_screened"))
form_step("plan", PlanIn, lambda c, pid, b: svc.save_plan(c.db, c.user, pid, b), plan_prep)
form_step("trial", TrialIn, lambda c, pid, b: svc.start_trial(c.db, c.user, pid, b))
form_step("decision", DecisionIn, lambda c, pid, b: svc.decide(c.db, c.user, pid, b))
form_step("implant", ImplantIn, lambda c, pid, b: svc.implant(c.db, c.user, pid, b))
form_step("ipg-replacement", ReplacementIn, lambda c, pid, b: svc.replace_ipg(c.db, c.user, pid, b), confirm=True)
form_step("followups", FollowUpIn, lambda c, pid, b: svc.add_follow_up(c.db, c.user, pid, b),
          checkboxes("reprogrammed"))
form_step("adverse-events", AdverseEventIn, lambda c, pid, b: svc.add_adverse_event(c.db, c.user, pid, b),
          checkboxes("resolved"))
