"""The session report of one visit: what a clinician prints for the record after a programming session or a
follow-up, as clinician programmers print one (Abbott Proclaim DRG clinician manual; Medtronic A710 clinician
programmer; their report layouts are not copied [unverified]): the patient, the programs on the device, the
impedances and thresholds measured that day, the trial diary's summary, the follow-up scores and the day's
device events. Everything is read from the stored records and the device log; nothing is recomputed.

The programs are those on the device when the report is printed (the stored state; the device log keeps the
day's changes, listed with the events); a follow-up visit also shows the program it recorded as active."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drgsim.clinic import service as svc
from drgsim.clinic.models import Device, DeviceEvent, FollowUp, User
from drgsim.devices.program import Program

IMPEDANCE_NOTE = re.compile(r"^lead (\d+) configuration (\S+): ([0-9.]+) ohm$")  # measure_impedance's own note


@dataclass
class Measurement:
    """An impedance or threshold the device logged on the visit's day."""

    time: datetime
    device: str
    lead: int | None
    what: str
    value: str
    accepted: bool


def parse_day(raw: str | None, birth_year: int) -> date:
    """The report's date from the query (None: today), else InvalidInput naming ``date`` and its range."""
    if raw is None:
        return svc.today()
    earliest = date(birth_year, 1, 1)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise svc.InvalidInput("date", raw, f"a date YYYY-MM-DD from {earliest.isoformat()} (the patient's birth "
                                            f"year) to {svc.today().isoformat()} (today)") from None
    if not earliest <= day <= svc.today():
        raise svc.InvalidInput("date", raw, f"{earliest.isoformat()} (the patient's birth year) to "
                                            f"{svc.today().isoformat()} (today)")
    return day


def _measurements(events: list[DeviceEvent]) -> tuple[list[Measurement], list[Measurement]]:
    """Impedances (the device's note of each impedance check) and thresholds (any event naming a threshold)."""
    impedances, thresholds = [], []
    for e in events:
        serial = e.event.get("device", "")
        if e.action == "measure_impedance":
            for note in e.event.get("warnings", []):
                found = IMPEDANCE_NOTE.match(note)
                if found:
                    impedances.append(Measurement(e.time, serial, int(found[1]), f"configuration {found[2]}",
                                                  f"{found[3]} ohm", e.accepted))
            if not e.accepted:
                impedances.append(Measurement(e.time, serial, e.event["params"].get("lead"), "refused",
                                              e.reason or "", False))
        elif "threshold" in e.action:
            params = e.event.get("params", {})
            value = ", ".join(f"{k}={v}" for k, v in params.items() if k != "lead") or "; ".join(
                e.event.get("warnings", []))
            thresholds.append(Measurement(e.time, serial, params.get("lead"), e.action.replace("_", " "),
                                          value if e.accepted else f"refused: {e.reason}", e.accepted))
    return impedances, thresholds


def visit_report(db: Session, user: User, patient_id: int, raw_day: str | None) -> dict[str, Any]:
    """Everything the printed report of ``raw_day`` (ISO date; None: today) shows, for the patient's clinician."""
    p = svc.patient_for(db, user, patient_id, "report.read", clinician_only=True)
    day = parse_day(raw_day, p.birth_year)
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    events = list(db.scalars(select(DeviceEvent).join(Device).where(
        Device.patient_id == p.id, DeviceEvent.time >= start, DeviceEvent.time < start + timedelta(days=1))
        .order_by(DeviceEvent.id)))
    impedances, thresholds = _measurements(events)
    row = svc.active_device(db, p)
    programs = {name: Program.model_validate(prog) for name, prog in sorted((row.state or {}).get("programs", {})
                                                                            .items())} if row else {}
    trial = svc.active_trial(db, p.id)
    follow_ups = [f for f in svc.records(db, FollowUp, p.id) if f.visit_date <= day]
    svc.audit(db, user, "report.read", p.id, date=day.isoformat())
    return {"p": p, "day": day, "device": row, "programs": programs,
            "lead_info": {x["lead"]: x for x in row.leads} if row else {},
            "active_program": (row.state or {}).get("active_program") if row else None,
            "impedances": impedances, "thresholds": thresholds, "events": events, "trial": trial,
            "relief": svc.relief(trial) if trial else None, "decision": svc.decision_of(db, trial),
            "follow_ups": follow_ups, "visit": [f for f in follow_ups if f.visit_date == day],
            "printed_at": svc.now()}
