"""Remote programming (NeuroSphere Virtual Clinic, Abbott 2021): the clinician offers a session, the patient
joins from the phone's controller page, the phone's heartbeats keep the link; while joined the clinician's
programming page drives the device. A lost link (no heartbeat for the session's timeout, the setting
``DRGSIM_REMOTE_TIMEOUT_S``) or either side ending it reverts the device to the saved settings, a device event.
The session lives in the database (``RemoteSession``), so any worker answers any request."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm.exc import StaleDataError

from drgsim.clinic import service as svc
from drgsim.clinic.deps import CommitFirst, Ctx, ctx, form_data, render, see
from drgsim.clinic.models import as_utc
from drgsim.clinic.routes.programming import controller_context

router = APIRouter(include_in_schema=False, route_class=CommitFirst)
OFFER_POLL_S = 5  # how often the phone looks for an offered session


def clinician_context(c: Ctx, pid: int, error: str | None = None) -> dict:
    """The clinician's session panel: the session after its link check, the seconds since the last heartbeat."""
    p = svc.patient_for(c.db, c.user, pid, "remote.read", clinician_only=True)
    rs = svc.settle_remote(c.db, p.id)
    beat = rs.last_heartbeat_at if rs else None
    return {"p": p, "rs": rs, "error": error, "poll_s": svc.REMOTE_HEARTBEAT_S,
            "heartbeat_ago_s": None if beat is None else (svc.now() - as_utc(beat)).total_seconds()}


def settled(c: Ctx, read):
    """``read()``, again after a rollback when another worker changed the session at the same moment (its
    link check or a heartbeat): the answer shows the session as that worker left it."""
    try:
        return read()
    except StaleDataError:
        c.db.rollback()
        return read()


def clinician_panel(request: Request, c: Ctx, pid: int, error: str | None = None,
                    http_status: int = 200) -> HTMLResponse:
    return render(request, c, "_remote_clinician.html", http_status,
                  **settled(c, lambda: clinician_context(c, pid, error)))


@router.get("/clinician/patients/{pid}/remote", response_class=HTMLResponse)
def remote_page(request: Request, pid: int, c: Ctx = Depends(ctx)):
    return render(request, c, "remote.html", **clinician_context(c, pid))


@router.get("/clinician/patients/{pid}/remote/status", response_class=HTMLResponse)
def remote_status(request: Request, pid: int, c: Ctx = Depends(ctx)):
    return clinician_panel(request, c, pid)


def clinician_step(request: Request, c: Ctx, pid: int, act) -> Response:
    """Start, save or end: the panel again (HTMX), or the page (a plain form post); a refused step says why."""
    try:
        act()
        c.db.commit()  # the step is kept whatever the panel's own link check meets
    except (svc.Conflict, StaleDataError) as err:
        c.db.rollback()
        why = str(err) if isinstance(err, svc.Conflict) else "the session changed at the same moment; try again"
        return clinician_panel(request, c, pid, why, 409)
    if not request.headers.get("hx-request"):
        return see(f"/clinician/patients/{pid}/remote")
    return clinician_panel(request, c, pid)


@router.post("/clinician/patients/{pid}/remote", response_class=HTMLResponse)
def remote_start(request: Request, pid: int, c: Ctx = Depends(ctx)):
    return clinician_step(request, c, pid,
                          lambda: svc.start_remote(c.db, c.user, pid, request.app.state.remote_timeout_s))


@router.post("/clinician/patients/{pid}/remote/save", response_class=HTMLResponse)
def remote_save(request: Request, pid: int, c: Ctx = Depends(ctx)):
    return clinician_step(request, c, pid, lambda: svc.save_remote(c.db, c.user, pid))


@router.post("/clinician/patients/{pid}/remote/end", response_class=HTMLResponse)
def remote_end(request: Request, pid: int, c: Ctx = Depends(ctx)):
    return clinician_step(request, c, pid, lambda: svc.end_remote(c.db, c.user, pid))


# ------------------------------------------------------------ patient's phone
def patient_panel(request: Request, c: Ctx, seen: str | None, rs=None, error: str | None = None,
                  http_status: int = 200):
    """The phone's session panel. ``seen``: the stimulator's version the phone's controller shows (its hidden
    ``device_version``, sent with the session's requests; None for the offer poll, which never redraws, so a
    tap's answer on the controller stays); when the stimulator changed since (the clinician's remote change,
    a revert), the controller comes along as an out-of-band swap, so the phone shows the device as it is."""
    rs = rs or settled(c, lambda: svc.settle_remote(c.db, svc.own_patient(c.db, c.user).id))
    p = svc.own_patient(c.db, c.user)
    row = svc.active_device(c.db, p)
    controller = controller_context(c, p) if row is not None and seen not in (None, str(row.version)) else {}
    return render(request, c, "_remote_patient.html", http_status, rs=rs, error=error,
                  heartbeat_s=svc.REMOTE_HEARTBEAT_S, poll_s=OFFER_POLL_S, oob=bool(controller), **controller)


@router.get("/patient/remote", response_class=HTMLResponse)
def phone_remote(request: Request, c: Ctx = Depends(ctx)):
    return patient_panel(request, c, None)


def phone_step(request: Request, c: Ctx, form: dict, act) -> HTMLResponse:
    seen = form.get("device_version")
    try:
        rs = act()
        c.db.commit()
    except svc.Conflict as err:
        c.db.rollback()
        return patient_panel(request, c, seen, error=str(err), http_status=409)
    except StaleDataError:  # the clinician's link check or end landed first: show the session as it is now
        c.db.rollback()
        return patient_panel(request, c, seen)
    return patient_panel(request, c, seen, rs)


@router.post("/patient/remote/join", response_class=HTMLResponse)
def phone_join(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    return phone_step(request, c, form, lambda: svc.join_remote(c.db, c.user))


@router.post("/patient/remote/heartbeat", response_class=HTMLResponse)
def phone_heartbeat(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    return phone_step(request, c, form, lambda: svc.heartbeat_remote(c.db, c.user))


@router.post("/patient/remote/end", response_class=HTMLResponse)
def phone_end(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    return phone_step(request, c, form, lambda: svc.end_remote(c.db, c.user))
