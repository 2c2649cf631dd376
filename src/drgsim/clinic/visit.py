"""The session report of one visit: what a clinician prints for the record after a programming session or a
follow-up, as clinician programmers print one (Abbott Proclaim DRG clinician manual; Medtronic A710 clinician
programmer; their report layouts are not copied [unverified]): the patient, the programs on the device, the
impedances measured that day (each configuration's check and each contact check), the thresholds captured and
the paresthesia mapping recorded that day, the trial diary's summary, the follow-up scores and the day's device
events. Everything is read from the stored records and the device log; nothing is recomputed.

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
from drgsim.clinic.models import Device, DeviceEvent, FollowUp, ParesthesiaMapRecord, ThresholdRecord, User, as_utc
from drgsim.devices.program import Program

IMPEDANCE_NOTE = re.compile(r"^lead (\d+) configuration (\S+): ([0-9.]+) ohm$")  # measure_impedance's own note


@dataclass
class Measurement:
    """A configuration's impedance the device logged on the visit's day."""

    time: datetime
    device: str
    lead: int | None
    what: str
    value: str
    accepted: bool


@dataclass
class ContactReading:
    """One contact check of a lead: ohms and open/short flag per contact (contact 1 first), or the refusal."""

    time: datetime
    device: str
    lead: int | None
    contacts: list[tuple[float, str | None]]
    reason: str | None


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


def _impedances(events: list[DeviceEvent]) -> list[Measurement]:
    """The configuration impedances of the day: the device's note of each ``measure_impedance`` event."""
    impedances = []
    for e in events:
        if e.action != "measure_impedance":
            continue
        serial = e.event.get("device", "")
        for note in e.event.get("warnings", []):
            found = IMPEDANCE_NOTE.match(note)
            if found:
                impedances.append(Measurement(e.time, serial, int(found[1]), f"configuration {found[2]}",
                                              f"{found[3]} ohm", e.accepted))
        if not e.accepted:
            impedances.append(Measurement(e.time, serial, e.event["params"].get("lead"), "refused", e.reason or "",
                                          False))
    return impedances


def _contact_checks(db: Session, device_ids: list[int], start: datetime, end: datetime) -> list[ContactReading]:
    """The contact checks of [start, end): each event's readings as the device state held them after it. An event
    stores only the values that changed, so the state is folded from the device's earlier checks (no other
    action writes ``contact_checks``)."""
    readings, state = [], {}
    for e in db.scalars(select(DeviceEvent).where(DeviceEvent.device_id.in_(device_ids),
                                                  DeviceEvent.action == "check_contacts", DeviceEvent.time < end)
                        .order_by(DeviceEvent.device_id, DeviceEvent.seq)):
        lead = e.event.get("params", {}).get("lead")
        held = state.setdefault(e.device_id, {})
        held.update(e.event.get("after", {}))
        if as_utc(e.time) < start:
            continue
        contacts, key = [], f"contact_checks.{lead}"
        while f"{key}.impedance_ohm.{len(contacts)}" in held:
            n = len(contacts)
            contacts.append((held[f"{key}.impedance_ohm.{n}"], held[f"{key}.flags.{n}"]))
        readings.append(ContactReading(e.time, e.event.get("device", ""), lead, contacts if e.accepted else [],
                                       None if e.accepted else e.reason or ""))
    return readings


def visit_report(db: Session, user: User, patient_id: int, raw_day: str | None) -> dict[str, Any]:
    """Everything the printed report of ``raw_day`` (ISO date; None: today) shows, for the patient's clinician."""
    p = svc.patient_for(db, user, patient_id, "report.read", clinician_only=True)
    day = parse_day(raw_day, p.birth_year)
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    events = list(db.scalars(select(DeviceEvent).join(Device).where(
        Device.patient_id == p.id, DeviceEvent.time >= start, DeviceEvent.time < end).order_by(DeviceEvent.id)))
    serials = dict(db.execute(select(Device.id, Device.serial).where(Device.patient_id == p.id)).all())
    thresholds = db.scalars(select(ThresholdRecord).where(
        ThresholdRecord.patient_id == p.id, ThresholdRecord.created_at >= start, ThresholdRecord.created_at < end)
        .order_by(ThresholdRecord.id)).all()
    mappings = db.scalars(select(ParesthesiaMapRecord).where(
        ParesthesiaMapRecord.patient_id == p.id, ParesthesiaMapRecord.day == day)
        .order_by(ParesthesiaMapRecord.id)).all()
    row = svc.active_device(db, p)
    programs = {name: Program.model_validate(prog) for name, prog in sorted((row.state or {}).get("programs", {})
                                                                            .items())} if row else {}
    trial = svc.active_trial(db, p.id)
    follow_ups = [f for f in svc.records(db, FollowUp, p.id) if f.visit_date <= day]
    svc.audit(db, user, "report.read", p.id, date=day.isoformat())
    return {"p": p, "day": day, "device": row, "programs": programs,
            "lead_info": {x["lead"]: x for x in row.leads} if row else {},
            "active_program": (row.state or {}).get("active_program") if row else None,
            "impedances": _impedances(events), "contact_checks": _contact_checks(db, list(serials), start, end),
            "thresholds": thresholds, "mappings": mappings, "serials": serials, "events": events, "trial": trial,
            "relief": svc.relief(trial) if trial else None, "decision": svc.decision_of(db, trial),
            "follow_ups": follow_ups, "visit": [f for f in follow_ups if f.visit_date == day],
            "printed_at": svc.now()}
