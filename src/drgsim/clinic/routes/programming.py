"""The device pages: the clinician's programming page (programs, each lead's settings, the live prediction)
and the patient's controller and diary. Every change goes through the device, which may refuse it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm.exc import StaleDataError

from drgsim.clinic import service as svc
from drgsim.clinic.catalog import clinic_ipg
from drgsim.clinic.deps import (
    CommitFirst,
    Ctx,
    ctx,
    field_message,
    fields,
    form_data,
    parse,
    prediction,
    render,
    see,
    templates,
)
from drgsim.clinic.leadsvg import lead_svg
from drgsim.clinic.models import Patient
from drgsim.clinic.schemas import ClosedLoopIn, DiaryIn, LeadIn, ProgramIn, RampIn, StepIn, TherapyIn, ThresholdIn
from drgsim.clinic.svgmap import body_map_svg
from drgsim.devices.closedloop import MODES as LOOP_MODES
from drgsim.devices.leads import get_lead
from drgsim.devices.ranges import fmt

router = APIRouter(include_in_schema=False, route_class=CommitFirst)
templates.env.filters["fmt"] = fmt  # a device value as the device states it: 1.025, not 1.02


# ------------------------------------------------------------ programming
LOOP_DEFAULTS = {k: f.default for m in LOOP_MODES.values() for k, f in m.model_fields.items()
                 if k != "mode" and not f.is_required()}  # the device's controller defaults, shown in the form


def programming_context(c: Ctx, pid: int, program: str | None, dev=None, *, typed_lead: int | None = None,
                        typed: dict[str, Any] | None = None, errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The programming page of ``program``; ``dev``: the device an action has just left (not loaded again);
    ``typed``: what the clinician typed in lead ``typed_lead``'s form, shown again (with ``errors`` by field)
    when the form or the device refused it."""
    p, row = svc.device_of(c.db, c.user, pid, "program.read", clinician_only=True)
    dev = dev or svc.load_device(row)
    names = sorted(dev.state.programs)
    program = program if program in names else (dev.state.active_program or (names[0] if names else None))
    safety = dev.safety_report(program) if program else []
    leads = dev.program(program).leads if program else {}
    drawings = {n: lead_svg(n, ls, get_lead(dev.implant[n].lead_model), contact_attrs(pid, program, n))
                for n, ls in leads.items()}
    return {"p": p, "row": row, "dev": dev, "model": dev.model, "program": program, "programs": names,
            "leads": leads, "lead_info": {x["lead"]: x for x in row.leads}, "safety": {s.lead: s for s in safety},
            "status": dev.status(), "pain": svc.current_pain(c.db, pid), "drawings": drawings,
            "checks": dev.state.contact_checks, "thresholds": svc.thresholds(c.db, p.id, row.id),
            "typed_lead": typed_lead, "typed": typed or {}, "errors": errors or {}, "loop_defaults": LOOP_DEFAULTS,
            **(mapping_context(c, p.id, row, dev, program) if program else {})}


def contact_attrs(pid: int, program: str, lead: int):
    """The HTMX attributes of contact n in the lead drawing: a click posts it and swaps the panel."""
    url = f"/clinician/patients/{pid}/programming/{quote(program)}/leads/{lead}/contacts"
    return lambda n: {"hx-post": f"{url}/{n}", "hx-target": "#programming-panel", "hx-swap": "outerHTML"}


def mapping_context(c: Ctx, pid: int, row, dev, program: str) -> dict[str, Any]:
    """The mapping log, and the body map to click where the patient feels the program's present configuration."""
    config = svc.configuration(dev, program)
    now = svc.mapping_of(c.db, pid, row.id, program, config)
    url = f"/clinician/patients/{pid}/programming/{quote(program)}/mapping/region"
    pain = svc.current_pain(c.db, pid)
    svg = body_map_svg(pain.nrs if pain else None, reported=now.regions if now else [],
                       region_attrs=lambda r: {"hx-post": url, "hx-vals": f'{{"region": "{r}"}}',
                                               "hx-target": "#mapping", "hx-swap": "outerHTML"},
                       title="where the patient feels this configuration", width_px=420, id_prefix="mapping-region-")
    return {"mapping_now": now, "mapping_svg": svg, "mappings": svc.mappings(c.db, pid, row.id)}


@router.get("/clinician/patients/{pid}/programming", response_class=HTMLResponse)
def programming_page(request: Request, pid: int, program: str | None = None, c: Ctx = Depends(ctx)):
    return render(request, c, "programming.html", result=None, **programming_context(c, pid, program))


@router.post("/clinician/patients/{pid}/programming", response_class=HTMLResponse)
def programming_new(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    body, errors = parse(ProgramIn, fields(form))
    if errors:
        return render(request, c, "programming.html", 422, result=svc.DeviceOutcome(False, errors["name"], []),
                      **programming_context(c, pid, None))
    out = svc.create_program(c.db, c.user, pid, body.name)
    return render(request, c, "programming.html", result=out, **programming_context(c, pid, body.name, out.device))


def lead_form(form: dict[str, Any]) -> dict[str, Any]:
    """The lead panel's form as a LeadIn: one select per contact (c1, c2, ...) joined, ticked boxes as booleans."""
    data = fields(form)
    data["contacts"] = "".join(data.pop(f"c{i}", "0") for i in range(1, clinic_ipg().contacts_per_lead + 1))
    data["enabled"] = "enabled" in data
    data["override"] = "override" in data
    return data


LEAD_FIELDS = ("amplitude_ma", "pulse_width_us", "frequency_hz", "min_amplitude_ma", "max_amplitude_ma", "contacts")


def reason_by_field(reason: str) -> dict[str, str]:
    """A device refusal split into its problems (each starts ``program '...' lead n:``), each problem beside the
    lead-form field it names (``override`` for a charge the clinician has to accept)."""
    problems = re.split(r"; (?=program ')", reason)
    named = {k: "; ".join(x for x in problems if f"{k}=" in x) for k in LEAD_FIELDS}
    named["override"] = "; ".join(x for x in problems if "clinician override" in x)
    return {k: v for k, v in named.items() if v}


@router.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}", response_class=HTMLResponse)
def programming_lead(request: Request, pid: int, program: str, lead: int, c: Ctx = Depends(ctx),
                     form: dict = Depends(form_data)):
    """Apply the lead form; refused (by the form's checks or the device), the form keeps what was typed and
    each field the reason names is marked."""
    data = lead_form(form)
    body, errors = parse(LeadIn, data)
    if errors:
        out = svc.DeviceOutcome(False, "; ".join(field_message(k, v) for k, v in errors.items()), [])
        return render(request, c, "_programming_panel.html", 422, result=out,
                      **programming_context(c, pid, program, typed_lead=lead, typed=data, errors=errors))
    out = svc.program_lead(c.db, c.user, pid, program, lead, body)
    kept = {} if out.accepted else {"typed_lead": lead, "typed": data, "errors": reason_by_field(out.reason or "")}
    return render(request, c, "_programming_panel.html", result=out,
                  **programming_context(c, pid, program, out.device, **kept))


@router.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}/contacts/{contact}",
             response_class=HTMLResponse)
def programming_contact(request: Request, pid: int, program: str, lead: int, contact: int, c: Ctx = Depends(ctx)):
    """A click on a contact of the lead drawing: its next state (- + off), applied as the lead form applies."""
    out = svc.cycle_contact(c.db, c.user, pid, program, lead, contact)
    return render(request, c, "_programming_panel.html", result=out,
                  **programming_context(c, pid, program, out.device))


@router.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}/impedance", response_class=HTMLResponse)
def programming_impedance(request: Request, pid: int, program: str, lead: int, c: Ctx = Depends(ctx)):
    out = svc.check_contacts(c.db, c.user, pid, lead, program)
    return render(request, c, "_programming_panel.html", result=out,
                  **programming_context(c, pid, program, out.device))


@router.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}/ramp", response_class=HTMLResponse)
def programming_ramp(request: Request, pid: int, program: str, lead: int, c: Ctx = Depends(ctx),
                     form: dict = Depends(form_data)):
    body, errors = parse(RampIn, fields(form))
    if errors:
        out = svc.DeviceOutcome(False, "; ".join(field_message(k, v) for k, v in errors.items()), [])
        return render(request, c, "_programming_panel.html", 422, result=out, **programming_context(c, pid, program))
    out = svc.ramp_amplitude(c.db, c.user, pid, program, lead, body.steps)
    return render(request, c, "_programming_panel.html", result=out,
                  **programming_context(c, pid, program, out.device))


@router.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}/thresholds",
             response_class=HTMLResponse)
def programming_thresholds(request: Request, pid: int, program: str, lead: int, c: Ctx = Depends(ctx),
                           form: dict = Depends(form_data)):
    """Capture thresholds of the lead's present configuration (blank fields: not captured now)."""
    data = {k: v for k, v in fields(form).items() if str(v).strip() != ""}
    body, errors = parse(ThresholdIn, data)
    if not errors:
        try:
            svc.capture_thresholds(c.db, c.user, pid, program, lead, body)
        except svc.InvalidInput as err:
            errors = {err.field: str(err)}
    out = svc.DeviceOutcome(not errors, "; ".join(field_message(k, v) for k, v in errors.items()) or None, [])
    return render(request, c, "_programming_panel.html", 422 if errors else 200, result=out, thr_lead=lead,
                  thr_typed=data if errors else {}, thr_errors=errors, **programming_context(c, pid, program))


def closed_loop_form(data: dict[str, Any]) -> dict[str, Any]:
    """The closed-loop form as a ClosedLoopIn: the chosen mode with its own fields (the form shows every mode's)."""
    mode = data.get("mode")
    own = LOOP_MODES[mode].model_fields if mode in LOOP_MODES else {}
    return {"closed_loop": {"mode": mode, **{k: v for k, v in data.items() if k in own and k != "mode"}}}


@router.post("/clinician/patients/{pid}/programming/{program}/leads/{lead}/closed-loop", response_class=HTMLResponse)
def programming_closed_loop(request: Request, pid: int, program: str, lead: int, c: Ctx = Depends(ctx),
                            form: dict = Depends(form_data)):
    """Apply the lead's closed-loop form; refused (by the controller's ranges or the device), the form keeps what
    was typed with the reason beside the field it names (the mode, or the whole form for a device refusal)."""
    data = fields(form)
    body, errors = parse(ClosedLoopIn, closed_loop_form(data))
    if errors:
        errors = {"mode" if k == "closed_loop" else k.rsplit(".", 1)[-1]: v for k, v in errors.items()}
        out = svc.DeviceOutcome(False, "; ".join(field_message(k, v) for k, v in errors.items()), [])
        return render(request, c, "_programming_panel.html", 422, result=out, loop_lead=lead, loop_typed=data,
                      loop_errors=errors, **programming_context(c, pid, program))
    out = svc.set_closed_loop(c.db, c.user, pid, program, lead, body)
    kept = {} if out.accepted else {"loop_lead": lead, "loop_typed": data, "loop_errors": {"form": out.reason}}
    return render(request, c, "_programming_panel.html", result=out, **kept,
                  **programming_context(c, pid, program, out.device))


@router.post("/clinician/patients/{pid}/programming/{program}/mapping/region", response_class=HTMLResponse)
def programming_mapping(request: Request, pid: int, program: str, c: Ctx = Depends(ctx),
                        form: dict = Depends(form_data)):
    """A click on the mapping body map: the region added to or removed from where the patient feels it."""
    errors = {}
    try:
        svc.toggle_mapping_region(c.db, c.user, pid, program, str(fields(form).get("region", "")))
    except svc.InvalidInput as err:
        errors = {err.field: str(err)}
    context = programming_context(c, pid, program)
    return render(request, c, "_mapping.html", 422 if errors else 200, mapping_errors=errors, **context)


@router.post("/clinician/patients/{pid}/programming/{program}/activate", response_class=HTMLResponse)
def programming_activate(request: Request, pid: int, program: str, c: Ctx = Depends(ctx)):
    out = svc.set_therapy(c.db, c.user, pid, TherapyIn(on=True, program=program))
    return render(request, c, "_programming_panel.html", result=out,
                  **programming_context(c, pid, program, out.device))


@router.get("/clinician/patients/{pid}/programming/{program}/panel", response_class=HTMLResponse)
def programming_panel(request: Request, pid: int, program: str, c: Ctx = Depends(ctx)):
    """Undo: the panel again from the device's current settings (the last applied program)."""
    return render(request, c, "_programming_panel.html", result=None, **programming_context(c, pid, program))


@router.post("/clinician/patients/{pid}/programming/stop", response_class=HTMLResponse)
def programming_stop(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)) -> Response:
    """Stop stimulation: therapy off on the device (audited as every write); the panel, or the page without HTMX."""
    out = svc.set_therapy(c.db, c.user, pid, TherapyIn(on=False))
    program = fields(form).get("program")
    if not request.headers.get("hx-request"):
        return see(f"/clinician/patients/{pid}/programming" + (f"?program={quote(program)}" if program else ""))
    return render(request, c, "_programming_panel.html", result=out,
                  **programming_context(c, pid, program, out.device))


@router.get("/clinician/patients/{pid}/programming/{program}/prediction", response_class=HTMLResponse)
def programming_prediction(request: Request, pid: int, program: str, c: Ctx = Depends(ctx)):
    pred = prediction(request, c, pid, program)
    svg = None
    if pred.status == "ready":
        _, row = svc.device_of(c.db, c.user, pid, "program.read", clinician_only=True)
        now = svc.mapping_of(c.db, pid, row.id, program, svc.configuration(svc.load_device(row), program))
        pain = svc.current_pain(c.db, pid)
        svg = body_map_svg(pain.nrs if pain else None, pred.paresthesia or None,
                           reported=now.regions if now else None)
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


@router.get("/patient", response_class=HTMLResponse)
def controller(request: Request, c: Ctx = Depends(ctx)):
    return render(request, c, "controller.html", result=None, **controller_context(c))


def controller_action(request: Request, c: Ctx, form: dict, model: type[BaseModel], act) -> HTMLResponse:
    """A tap on the controller: the device's answer (or the form's errors) over the refreshed controller."""
    p = svc.own_patient(c.db, c.user)
    body, errors = parse(model, fields(form))
    out = svc.DeviceOutcome(False, "; ".join(errors.values()), []) if errors else act(c.db, c.user, p.id, body)
    if not errors:
        try:  # committed here: a tap that lost the race to another one is shown, not dropped as a bare 409
            c.db.commit()
        except StaleDataError:
            c.db.rollback()
            p = svc.own_patient(c.db, c.user)
            out = svc.DeviceOutcome(False, "another change reached the stimulator first; this tap was not applied "
                                           "(the amplitude shown is the current one, tap again)", [])
    if isinstance(body, StepIn) and not out.accepted and "clinician limits" in (out.reason or ""):
        note = limit_reason(out.device, body)
        out.reason = f"{out.reason}; {note}" if note else out.reason
    return render(request, c, "_controller.html", result=out, **controller_context(c, p, out.device))


def limit_reason(dev, step: StepIn) -> str | None:
    """The phone's words for a step refused at the patient range: which limit, and its value."""
    if dev is None or not dev.state.active_program:
        return None
    leads = dev.program(dev.state.active_program).leads
    for n, ls in sorted(leads.items()):
        lim = ls.patient_limits
        if not ls.enabled or lim is None or step.lead not in (None, n):
            continue
        if step.steps < 0 and ls.amplitude_ma - 1e-9 <= lim.min_amplitude_ma:
            return f"you are at your lower limit, {fmt(lim.min_amplitude_ma)} mA"
        if step.steps > 0 and ls.amplitude_ma + 1e-9 >= lim.max_amplitude_ma:
            return f"you are at your upper limit, {fmt(lim.max_amplitude_ma)} mA"
    return None


@router.post("/patient/amplitude", response_class=HTMLResponse)
def controller_step(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    return controller_action(request, c, form, StepIn, svc.step_amplitude)


@router.post("/patient/therapy", response_class=HTMLResponse)
def controller_therapy(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    return controller_action(request, c, form, TherapyIn, svc.set_therapy)


@router.post("/patient/diary", response_class=HTMLResponse)
def controller_diary(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    p = svc.own_patient(c.db, c.user)
    data = fields(form)
    body, errors = parse(DiaryIn, data)
    if not errors:
        try:
            svc.add_diary(c.db, c.user, p.id, body)
        except svc.InvalidInput as err:
            errors = {err.field: str(err)}
        except svc.Conflict as err:
            errors = {"day": str(err)}
    context = controller_context(c, p)
    context["errors"] = errors
    return render(request, c, "_diary.html", 422 if errors else 200, values=data if errors else {},
                  saved=None if errors else body, **context)
