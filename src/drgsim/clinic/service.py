"""The clinic's operations: one function per step of the pathway, each checking the role and the
ownership, writing its records and one audit entry in the caller's transaction (so a failure leaves
nothing half-saved), and driving stimulators through ``drgsim.devices`` so every device rule holds.

Rules of the clinical pathway (trial success as defined by TRIAL-STIM, Eldabe et al. 2020; ACCURATE, Deer et
al. 2017, Pain 158:669): a trial lasts about a week with
temporary leads on an external stimulator; it succeeds with >= 50 % pain relief, here the mean diary
NRS against the baseline NRS; the clinician confirms the decision; only then may a permanent system
be implanted, at the trial's levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from drgsim.anatomy.candidate import assess_candidate
from drgsim.anatomy.painmap import PainMap, pain_map
from drgsim.anatomy.planning import plan_targets
from drgsim.clinic.auth import close_other_sessions, hash_password, temporary_password
from drgsim.clinic.catalog import IPG_LEAD, IPG_MODEL, TRIAL_LEAD, TRIAL_MODEL
from drgsim.clinic.guards import MAX_ID, json_safe
from drgsim.clinic.models import (
    AdverseEvent,
    AuditEntry,
    Device,
    DeviceEvent,
    DiaryEntry,
    FollowUp,
    ImplantRecord,
    PainMapRecord,
    ParesthesiaMapRecord,
    Patient,
    PlanRecord,
    RemoteSession,
    Screening,
    ThresholdRecord,
    Trial,
    TrialDecision,
    User,
    as_utc,
    utcnow,
)
from drgsim.clinic.schemas import (
    AdverseEventIn,
    ClosedLoopIn,
    DecisionIn,
    DiaryIn,
    FollowUpIn,
    ImplantIn,
    LeadIn,
    PatientIn,
    PatientSearchIn,
    PlanIn,
    ReplacementIn,
    ScreeningIn,
    StepIn,
    TherapyIn,
    ThresholdIn,
    TrialIn,
)
from drgsim.devices.events import Actor, Event
from drgsim.devices.hardware import get_ipg_model
from drgsim.devices.ipg import (
    SYSTEM,
    ActionResult,
    ImplantedLead,
    ImplantedPulseGenerator,
    Neurostimulator,
    TrialStimulator,
)
from drgsim.devices.program import LeadSettings, contacts_label
from drgsim.devices.ranges import ParameterError

RELIEF_RULE_PCT = 50.0  # trial success: >= 50 % relief (TRIAL-STIM, Eldabe et al. 2020)
MIN_DIARY_DAYS = 5  # days of diary the decision needs [project choice: most of the one-week trial]


class Forbidden(Exception):
    """The user may not do this; the refusal is logged."""

    def __init__(self, user: User, action: str, patient_id: int | None, why: str):
        super().__init__(why)
        # plain values: the request's session (and with it ``user``) is rolled back before the refusal is logged
        self.entry = dict(user_id=user.id, username=user.username, role=user.role, action=action,
                          patient_id=patient_id, allowed=False)
        self.why = why


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The request is well-formed but the pathway is not at a step that allows it (HTTP 409)."""


class InvalidInput(ValueError):
    """A value outside what the pathway allows now, e.g. a date outside its window (HTTP 422, beside the
    field on a form): names the field, the value and the allowed range."""

    def __init__(self, field: str, value: Any, allowed: str):
        super().__init__(f"{field}={value}; allowed: {allowed}")
        self.field, self.value, self.allowed = field, value, allowed


DIAGNOSIS_LABELS = {"crps_i": "CRPS type I", "crps_ii": "CRPS type II (causalgia)",
                    "peripheral_nerve_injury": "peripheral nerve injury", "postsurgical": "postsurgical pain",
                    "phantom_limb": "phantom limb pain", "radiculopathy": "radiculopathy", "other": "other"}


def diagnosis_label(code: str) -> str:
    """A diagnosis as the pages name it: 'CRPS type I', not 'crps_i'."""
    return DIAGNOSIS_LABELS.get(str(code), str(code).replace("_", " "))


MAX_DAYS_AHEAD = 365  # implant and IPG-replacement dates at most this many days after today [project choice]


def today() -> date:
    """The clinic's date (UTC): the one clock of the pathway's date rules, so tests can set it."""
    return utcnow().date()


def check_date(field: str, value: date, earliest: date, why: str) -> None:
    """``value`` lies in ``earliest`` (``why``) .. today + MAX_DAYS_AHEAD, else InvalidInput naming both."""
    latest_day = today() + timedelta(days=MAX_DAYS_AHEAD)
    if not earliest <= value <= latest_day:
        raise InvalidInput(field, value.isoformat(), f"{earliest.isoformat()} ({why}) to {latest_day.isoformat()} "
                                                     f"(a year after today)")


@dataclass
class DeviceOutcome:
    """A device action's result as the clinic shows it, with the device as it is now (for the page)."""

    accepted: bool
    reason: str | None
    warnings: list[str]
    device: Neurostimulator | None = None


def audit(db: Session, user: User | None, action: str, patient_id: int | None, *, allowed: bool = True,
          **detail: Any) -> None:
    """One audit entry; a non-finite number in ``detail`` is stored by name (strict JSON cannot carry it)."""
    detail = json_safe(detail)
    db.add(AuditEntry(user_id=user.id if user else None, username=user.username if user else "-",
                      role=user.role if user else "anonymous", action=action, patient_id=patient_id,
                      allowed=allowed, detail=detail))


def require_clinician(user: User, action: str) -> None:
    if user.role != "clinician":
        raise Forbidden(user, action, None, f"{action} is for clinicians")


def patient_for(db: Session, user: User, patient_id: int, action: str, *, clinician_only: bool = False) -> Patient:
    """The patient record if ``user`` may ``action`` it: their own clinician, or the patient themself."""
    p = db.get(Patient, patient_id)
    if p is None:
        raise NotFound(f"patient {patient_id} does not exist")
    if user.role == "clinician" and p.clinician_id == user.id:
        return p
    if user.role == "patient" and p.user_id == user.id and not clinician_only:
        return p
    raise Forbidden(user, action, patient_id, f"{user.role} {user.username!r} may not {action} patient {patient_id}")


def own_patient(db: Session, user: User) -> Patient:
    p = db.scalar(select(Patient).where(Patient.user_id == user.id))
    if p is None:
        raise Forbidden(user, "controller", None, "only a patient has a controller")
    return p


# ---------------------------------------------------------------- people
def create_clinician(db: Session, username: str, password: str, display_name: str) -> User:
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")
    user = User(username=username, password_hash=hash_password(password, username), role="clinician",
                display_name=display_name)
    db.add(user)
    db.flush()
    audit(db, None, "clinician.create", None, username=username)
    return user


def create_patient(db: Session, user: User, data: PatientIn) -> Patient:
    require_clinician(user, "patient.create")
    if db.scalar(select(User).where(User.username == data.username)) is not None:
        raise Conflict(f"username={data.username!r} is taken")
    login = User(username=data.username, password_hash=hash_password(data.password, data.username), role="patient",
                 display_name=data.name)
    db.add(login)
    db.flush()
    p = Patient(name=data.name, birth_year=data.birth_year, sex=data.sex, diagnosis=data.diagnosis.value,
                clinician_id=user.id, user_id=login.id)
    db.add(p)
    db.flush()
    audit(db, user, "patient.create", p.id, username=data.username)
    return p


def reset_password(db: Session, user: User, patient_id: int) -> str:
    """The patient's own clinician sets a temporary password (returned, to be shown once, never stored in
    plain text nor audited): the patient's sessions end and their next sign-in opens only the password
    page until they choose a new one (NIST SP 800-63B, 6.1.2.3: a reset replaces the secret)."""
    p = patient_for(db, user, patient_id, "password.reset", clinician_only=True)
    temporary = temporary_password(p.user.username)
    p.user.password_hash = hash_password(temporary, p.user.username)
    p.user.must_change_password = True
    ended = close_other_sessions(db, p.user)
    audit(db, user, "password.reset", p.id, username=p.user.username, sessions_ended=ended)
    return temporary


def list_patients(db: Session, user: User, query: PatientSearchIn | None = None) -> list[Patient]:
    """The clinician's patients; with ``query``, those where every word is in the name, the id (``12`` or
    ``#12``), the diagnosis (code or label) or the stage, at the stage and diagnosis asked for."""
    require_clinician(user, "patient.list")
    stmt = select(Patient).where(Patient.clinician_id == user.id)
    query = query or PatientSearchIn()
    if query.stage:
        stmt = stmt.where(Patient.stage == query.stage)
    if query.diagnosis:
        stmt = stmt.where(Patient.diagnosis == query.diagnosis.value)
    for word in query.q.lower().split():
        like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        labelled = [code for code, label in DIAGNOSIS_LABELS.items() if word in label.lower()]
        match = (func.lower(Patient.name).like(like, escape="\\") | Patient.diagnosis.like(like, escape="\\")
                 | Patient.diagnosis.in_(labelled) | Patient.stage.like(like, escape="\\"))
        number = word.removeprefix("#")
        if number.isascii() and number.isdigit() and int(number) <= MAX_ID:
            match |= Patient.id == int(number)
        stmt = stmt.where(match)
    return list(db.scalars(stmt.order_by(Patient.id)))


# ---------------------------------------------------------------- evaluation
def latest(db: Session, model, patient_id: int):
    return db.scalar(select(model).where(model.patient_id == patient_id).order_by(model.id.desc()).limit(1))


def current_pain(db: Session, patient_id: int) -> PainMap | None:
    """The patient's latest pain map (None: none drawn, or every region cleared)."""
    rec = latest(db, PainMapRecord, patient_id)
    return PainMap(nrs=rec.nrs) if rec and rec.nrs else None


def save_pain_map(db: Session, user: User, patient_id: int, pain: PainMap | None) -> PainMapRecord:
    """A new version of the pain map, keeping the regions with pain (None or no pain: an empty map)."""
    p = patient_for(db, user, patient_id, "painmap.save", clinician_only=True)
    nrs = {k: v for k, v in pain.nrs.items() if v > 0} if pain else {}
    rec = PainMapRecord(patient_id=p.id, nrs=nrs, created_by=user.id)
    db.add(rec)
    audit(db, user, "painmap.save", p.id, nrs=nrs)
    return rec


def set_region(db: Session, user: User, patient_id: int, region: str, nrs: int) -> PainMapRecord:
    """One click on the body map: a new pain map version with ``region`` at ``nrs``."""
    pain_map({region: max(nrs, 1)})  # names an unknown region (with close matches) even when clearing it
    current = current_pain(db, patient_id)
    new = {k: v for k, v in {**(current.nrs if current else {}), region: nrs}.items() if v > 0}
    return save_pain_map(db, user, patient_id, PainMap(nrs=new) if new else None)


def screen(db: Session, user: User, patient_id: int, data: ScreeningIn) -> Screening:
    p = patient_for(db, user, patient_id, "screening.save", clinician_only=True)
    pain = current_pain(db, p.id)
    if pain is None:
        raise Conflict("draw the pain map before the candidate screening")
    result = assess_candidate(data, pain)
    rec = Screening(patient_id=p.id, history=data.model_dump(mode="json"), eligible=result.eligible,
                    criteria=[c.model_dump(mode="json") for c in result.criteria], created_by=user.id)
    db.add(rec)
    audit(db, user, "screening.save", p.id, eligible=result.eligible)
    return rec


def recommend(pain: PainMap | None) -> list[dict[str, Any]]:
    """The DRG targets drgsim.anatomy.planning recommends for a pain map."""
    if pain is None:
        return []
    plan = plan_targets(pain)
    score = {(t.level, t.side): t.score for t in plan.targets}
    return [{"level": r.level.value, "side": r.side.value, "score": score[(r.level, r.side)]} for r in plan.recommended]


def save_plan(db: Session, user: User, patient_id: int, data: PlanIn) -> PlanRecord:
    p = patient_for(db, user, patient_id, "plan.save", clinician_only=True)
    rec = PlanRecord(patient_id=p.id, targets=[t.model_dump(mode="json") for t in data.targets],
                     recommended=recommend(current_pain(db, p.id)), created_by=user.id)
    db.add(rec)
    audit(db, user, "plan.save", p.id, targets=rec.targets)
    return rec


# ---------------------------------------------------------------- devices
DEVICE_CLASSES: dict[str, type[Neurostimulator]] = {"trial": TrialStimulator, "ipg": ImplantedPulseGenerator}


def _implanted(leads: list[dict[str, Any]]) -> list[ImplantedLead]:
    return [ImplantedLead(lead=x["lead"], lead_model=x["lead_model"], impedance_ohm=x["impedance_ohm"]) for x in leads]


def load_device(row: Device, now: datetime | None = None) -> Neurostimulator:
    """The stored stimulator, its clock moved on to ``now`` (battery drain, trial end are logged)."""
    cls = DEVICE_CLASSES[row.kind]
    last = Event.model_validate(row.last_event) if row.last_event else None
    started, clock = as_utc(row.started_at), as_utc(row.clock_at)
    dev = cls.restore(row.model_id, _implanted(row.leads), serial=row.serial, started=started, now=clock,
                      state=row.state, last_event=last)
    hours = ((now or datetime.now(timezone.utc)) - clock).total_seconds() / 3600.0
    if hours > 0:
        dev.advance(hours)
    return dev


def store_device(db: Session, row: Device, dev: Neurostimulator) -> None:
    """Write the device's state, clock and new events (the event chain continues the stored one)."""
    events = dev.log.events
    for e in events:
        db.add(DeviceEvent(device_id=row.id, seq=e.seq, time=e.time, actor_role=e.actor.role, actor_name=e.actor.name,
                           action=e.action, accepted=e.accepted, reason=e.reason, event=e.model_dump(mode="json"),
                           digest=e.digest))
    if events:
        row.last_event = events[-1].model_dump(mode="json")
    row.state = dev.snapshot()
    row.clock_at = dev.now


def _new_device(db: Session, p: Patient, kind: str, model_id: str, lead_model: str, targets: list[dict[str, Any]],
                impedance_ohm: float | None, start: datetime) -> Device:
    """A stimulator with a lead per target (``impedance_ohm`` None: each target carries its own)."""
    leads = [{"lead": i, "lead_model": lead_model, "impedance_ohm": impedance_ohm or t["impedance_ohm"],
              "level": t["level"], "side": t["side"]} for i, t in enumerate(targets, start=1)]
    count = db.scalar(select(func.count()).select_from(Device)) or 0
    row = Device(patient_id=p.id, kind=kind, model_id=model_id, serial=f"{kind.upper()}-{p.id:05d}-{count + 1:04d}",
                 leads=leads, state={}, started_at=start, clock_at=start, last_event=None)
    dev = DEVICE_CLASSES[kind](model_id, _implanted(leads), serial=row.serial, start=start)
    row.state = dev.snapshot()
    db.add(row)
    db.flush()
    return row


def active_device(db: Session, p: Patient) -> Device | None:
    """The stimulator the patient has now: the IPG once implanted, else the running trial's stimulator."""
    return db.scalar(select(Device).where(Device.patient_id == p.id, Device.active.is_(True))
                     .order_by(Device.id.desc()).limit(1))


def device_of(db: Session, user: User, patient_id: int, action: str, *, clinician_only: bool) -> tuple[Patient, Device]:
    p = patient_for(db, user, patient_id, action, clinician_only=clinician_only)
    row = active_device(db, p)
    if row is None:
        raise Conflict(f"patient {p.id} has no stimulator yet (start a trial first)")
    return p, row


def _actor(user: User) -> Actor:
    return Actor(role="clinician" if user.role == "clinician" else "patient", name=user.username)


def _outcome(results: list[ActionResult]) -> DeviceOutcome:
    refused = [r for r in results if not r.accepted]
    return DeviceOutcome(accepted=not refused, reason="; ".join(r.reason for r in refused) or None,
                         warnings=[w for r in results for w in r.warnings])


def _device_action(db: Session, user: User, patient_id: int, action: str, *, clinician_only: bool,
                   act: Callable[[Neurostimulator, Actor], list[ActionResult]], **detail: Any) -> DeviceOutcome:
    """Load the patient's stimulator, let ``act`` drive it, store it with its events and the projected
    replacement date, and audit the outcome: the one path of every device change from the web."""
    p, row = device_of(db, user, patient_id, action, clinician_only=clinician_only)
    blocked = _remote_block(db, user, p)
    if blocked:
        audit(db, user, action, p.id, device=row.serial, accepted=False, reason=blocked, **detail)
        return DeviceOutcome(False, blocked, [], load_device(row))
    dev = load_device(row)
    out = _outcome(act(dev, _actor(user)))
    store_device(db, row, dev)
    _project_battery(db, p, row, dev)
    audit(db, user, action, p.id, device=row.serial, accepted=out.accepted, reason=out.reason, **detail)
    out.device = dev
    return out


def create_program(db: Session, user: User, patient_id: int, name: str) -> DeviceOutcome:
    return _device_action(db, user, patient_id, "program.create", clinician_only=True, program=name,
                          act=lambda dev, a: [dev.create_program(a, name)])


def _program_lead(dev: Neurostimulator, a: Actor, program: str, lead: int, data: LeadIn) -> list[ActionResult]:
    cur = _lead_settings(dev, program, lead)
    results = []
    if contacts_label(cur.contacts) != data.contacts:
        results.append(dev.set_contacts(a, program, lead, data.contacts))
        cur = dev.program(program).leads[lead]
    valid = cur.config_valid
    if valid and dev.measured_impedance(lead, cur.contacts) is None:
        results.append(dev.measure_impedance(a, program, lead))
    if cur.pulse_width_us != data.pulse_width_us:
        results.append(dev.set_pulse_width(a, program, lead, data.pulse_width_us, override=data.override))
    if cur.frequency_hz != data.frequency_hz:
        results.append(dev.set_frequency(a, program, lead, data.frequency_hz))
    if valid:
        limits = (data.min_amplitude_ma, data.max_amplitude_ma) if data.max_amplitude_ma > 0 else (None, None)
        old = cur.patient_limits
        if ((old.min_amplitude_ma, old.max_amplitude_ma) if old else (None, None)) != limits:
            results.append(dev.set_patient_limits(a, program, lead, *limits, override=data.override))
        if dev.program(program).leads[lead].amplitude_ma != data.amplitude_ma:
            results.append(dev.set_amplitude(a, program, lead, data.amplitude_ma, override=data.override))
    if data.enabled != dev.program(program).leads[lead].enabled:
        results.append(dev.enable_lead(a, program, lead, override=data.override) if data.enabled
                       else dev.disable_lead(a, program, lead))
    return results


def program_lead(db: Session, user: User, patient_id: int, program: str, lead: int, data: LeadIn) -> DeviceOutcome:
    """Apply one lead's settings as a clinician programmer would: configuration (with an impedance check
    when it changed), pulse width, frequency, patient range, amplitude, enable. Refused steps are shown
    and logged; the device keeps every rule."""
    return _device_action(db, user, patient_id, "program.edit", clinician_only=True, program=program, lead=lead,
                          settings=data.model_dump(mode="json"),
                          act=lambda dev, a: _program_lead(dev, a, program, lead, data))


CONTACT_CYCLE = {"0": "-", "-": "+", "+": "0"}  # a click on a contact of the lead drawing: off -> - -> + -> off


def cycle_contact(db: Session, user: User, patient_id: int, program: str, lead: int, contact: int) -> DeviceOutcome:
    """A click on contact ``contact`` of the lead drawing: the next state of that contact, applied through the
    lead-edit path (``program_lead``); the new configuration starts disabled at 0 mA, as the device rule says."""
    _, row = device_of(db, user, patient_id, "program.edit", clinician_only=True)
    ls = _lead_settings(load_device(row), program, lead)
    label = contacts_label(ls.contacts)
    if not 1 <= contact <= len(label):
        raise InvalidInput("contact", contact, f"1-{len(label)} (the contacts of lead {lead})")
    label = label[:contact - 1] + CONTACT_CYCLE[label[contact - 1]] + label[contact:]
    limits = ls.patient_limits
    data = LeadIn(contacts=label, amplitude_ma=0.0, pulse_width_us=ls.pulse_width_us, frequency_hz=ls.frequency_hz,
                  enabled=False, min_amplitude_ma=limits.min_amplitude_ma if limits else 0.0,
                  max_amplitude_ma=limits.max_amplitude_ma if limits else 0.0)
    return program_lead(db, user, patient_id, program, lead, data)


def _lead_settings(dev: Neurostimulator, program: str, lead: int) -> LeadSettings:
    """The lead's settings in ``program`` (NotFound naming the program or the lead)."""
    try:
        ls = dev.program(program).leads.get(lead)
    except KeyError:
        raise NotFound(f"program {program!r} does not exist") from None
    if ls is None:
        raise NotFound(f"lead {lead} is not implanted")
    return ls


def check_contacts(db: Session, user: User, patient_id: int, lead: int, program: str | None = None) -> DeviceOutcome:
    """The impedance check of a lead: each contact (ohms, open/short flags) and, when ``program`` is given and its
    configuration of the lead has a + and a -, that configuration too; both are device events (NotFound naming
    a lead that is not implanted or a program that does not exist)."""
    def act(dev: Neurostimulator, a: Actor) -> list[ActionResult]:
        if lead not in dev.implant:
            raise NotFound(f"lead {lead} is not implanted; leads: {sorted(dev.implant)}")
        valid = program is not None and _lead_settings(dev, program, lead).config_valid
        return [dev.check_contacts(a, lead)] + ([dev.measure_impedance(a, program, lead)] if valid else [])
    return _device_action(db, user, patient_id, "impedance.check", clinician_only=True, program=program, lead=lead,
                          act=act)


def ramp_amplitude(db: Session, user: User, patient_id: int, program: str, lead: int, steps: int) -> DeviceOutcome:
    """One step of a threshold ramp: the lead's amplitude moved by device steps (refused at the device limits)."""
    def act(dev: Neurostimulator, a: Actor) -> list[ActionResult]:
        _lead_settings(dev, program, lead)
        return [dev.ramp_amplitude(a, program, lead, steps)]
    return _device_action(db, user, patient_id, "amplitude.ramp", clinician_only=True, program=program, lead=lead,
                          steps=steps, act=act)


def set_closed_loop(db: Session, user: User, patient_id: int, program: str, lead: int,
                    data: ClosedLoopIn) -> DeviceOutcome:
    """The lead's closed-loop controller (or open loop) as the device action ``set_closed_loop``: the device
    refuses it on a model without ECAP sensing or a lead without patient limits (its window)."""
    def act(dev: Neurostimulator, a: Actor) -> list[ActionResult]:
        _lead_settings(dev, program, lead)
        return [dev.set_closed_loop(a, program, lead, data.controller())]
    return _device_action(db, user, patient_id, "closed_loop.set", clinician_only=True, program=program, lead=lead,
                          closed_loop=data.closed_loop.model_dump(), act=act)


THRESHOLDS = ("perception_ma", "comfort_ma", "discomfort_ma")  # in the order the patient reaches them


def capture_thresholds(db: Session, user: User, patient_id: int, program: str, lead: int,
                       data: ThresholdIn) -> ThresholdRecord:
    """Thresholds of the lead's present configuration: the given ones added to those captured before for it (a
    new row), each on the device's amplitude grid and perception <= comfort <= discomfort."""
    p, row = device_of(db, user, patient_id, "thresholds.capture", clinician_only=True)
    dev = load_device(row)
    ls = _lead_settings(dev, program, lead)
    given = {k: v for k, v in data.model_dump().items() if v is not None}
    for name, value in given.items():
        try:
            dev.model.check_parameter("amplitude_ma", value, name)
        except ParameterError as err:
            raise InvalidInput(name, f"{value} mA", f"{err.allowed} ({err.why})") from None
    config = dict(device_id=row.id, program=program, lead=lead, contacts=contacts_label(ls.contacts),
                  pulse_width_us=ls.pulse_width_us, frequency_hz=ls.frequency_hz)
    before = db.scalar(select(ThresholdRecord).filter_by(patient_id=p.id, **config)
                       .order_by(ThresholdRecord.id.desc()).limit(1))
    values = {k: getattr(before, k) if before else None for k in THRESHOLDS} | given
    _check_order(values, given)
    rec = ThresholdRecord(patient_id=p.id, created_by=user.id, **config, **values)
    db.add(rec)
    audit(db, user, "thresholds.capture", p.id, device=row.serial, **config, **values)
    db.flush()
    return rec


def _check_order(values: dict[str, float | None], given: dict[str, float]) -> None:
    """perception <= comfort <= discomfort among the known values; the error names a field just given."""
    known = [(k, values[k]) for k in THRESHOLDS if values[k] is not None]
    for (lo_name, lo), (hi_name, hi) in zip(known, known[1:]):
        if lo > hi + 1e-9:
            name, value = (hi_name, hi) if hi_name in given else (lo_name, lo)
            raise InvalidInput(name, f"{value} mA", f"perception_ma <= comfort_ma <= discomfort_ma for this "
                                                    f"configuration ({lo_name} is {lo} mA, {hi_name} {hi} mA)")


def thresholds(db: Session, patient_id: int, device_id: int) -> list[ThresholdRecord]:
    """The captured thresholds of the patient's device, newest first."""
    return list(db.scalars(select(ThresholdRecord).where(ThresholdRecord.patient_id == patient_id,
                                                         ThresholdRecord.device_id == device_id)
                           .order_by(ThresholdRecord.id.desc())))


def configuration(dev: Neurostimulator, program: str) -> dict[str, Any]:
    """A program's stimulation as a mapping entry records it: per lead, contacts and the pulse."""
    if program not in dev.state.programs:
        raise NotFound(f"program {program!r} does not exist")
    return {str(n): {"contacts": contacts_label(ls.contacts), "amplitude_ma": ls.amplitude_ma,
                     "pulse_width_us": ls.pulse_width_us, "frequency_hz": ls.frequency_hz, "enabled": ls.enabled}
            for n, ls in sorted(dev.program(program).leads.items())}


def mapping_of(db: Session, patient_id: int, device_id: int, program: str,
               config: dict[str, Any]) -> ParesthesiaMapRecord | None:
    """The latest mapping entry of exactly this configuration of ``program``."""
    rows = db.scalars(select(ParesthesiaMapRecord).where(
        ParesthesiaMapRecord.patient_id == patient_id, ParesthesiaMapRecord.device_id == device_id,
        ParesthesiaMapRecord.program == program).order_by(ParesthesiaMapRecord.id.desc()))
    return next((r for r in rows if r.configuration == config), None)


def _atlas_region(field: str, region: str) -> str:
    """``region`` if it is an atlas region, else InvalidInput naming ``field`` and the close matches."""
    try:
        pain_map({region: 1})
    except ValueError as err:
        raise InvalidInput(field, repr(region), str(err)) from None
    return region


def record_mapping(db: Session, user: User, patient_id: int, program: str, regions: list[str]) -> ParesthesiaMapRecord:
    """Where the patient feels the program's present configuration today: today's entry of that configuration
    set to ``regions`` (a new entry for a new day or configuration; the old regions audited)."""
    p, row = device_of(db, user, patient_id, "mapping.save", clinician_only=True)
    new = sorted({_atlas_region("regions", r) for r in regions})
    config = configuration(load_device(row), program)
    rec = mapping_of(db, p.id, row.id, program, config)
    if rec is None or rec.day != today():
        rec = ParesthesiaMapRecord(patient_id=p.id, device_id=row.id, program=program, configuration=config,
                                   regions=[], day=today(), created_by=user.id)
        db.add(rec)
    old = list(rec.regions)
    rec.regions = new
    audit(db, user, "mapping.save", p.id, device=row.serial, program=program, day=today().isoformat(),
          configuration=config, old=old, regions=rec.regions)
    db.flush()
    return rec


def toggle_mapping_region(db: Session, user: User, patient_id: int, program: str,
                          region: str) -> ParesthesiaMapRecord:
    """A click on the mapping body map: ``region`` added to (or removed from) today's regions of the program's
    present configuration, recorded as ``record_mapping`` records any mapping."""
    _, row = device_of(db, user, patient_id, "mapping.save", clinician_only=True)
    _atlas_region("region", region)
    now = mapping_of(db, patient_id, row.id, program, configuration(load_device(row), program))
    regions = set(now.regions) if now is not None and now.day == today() else set()
    return record_mapping(db, user, patient_id, program, sorted(regions ^ {region}))


def mappings(db: Session, patient_id: int, device_id: int) -> list[ParesthesiaMapRecord]:
    """The mapping log of the patient's device, newest first."""
    return list(db.scalars(select(ParesthesiaMapRecord).where(ParesthesiaMapRecord.patient_id == patient_id,
                                                              ParesthesiaMapRecord.device_id == device_id)
                           .order_by(ParesthesiaMapRecord.id.desc())))


def _therapy(dev: Neurostimulator, a: Actor, data: TherapyIn) -> list[ActionResult]:
    results = []
    if data.program is not None and data.program != dev.state.active_program:
        results.append(dev.select_program(a, data.program))
    if data.on != dev.state.therapy_on:
        results.append(dev.therapy_on(a) if data.on else dev.therapy_off(a))
    return results


def set_therapy(db: Session, user: User, patient_id: int, data: TherapyIn) -> DeviceOutcome:
    return _device_action(db, user, patient_id, "therapy", clinician_only=False, on=data.on, program=data.program,
                          act=lambda dev, a: _therapy(dev, a, data))


def step_amplitude(db: Session, user: User, patient_id: int, data: StepIn) -> DeviceOutcome:
    return _device_action(db, user, patient_id, "amplitude.step", clinician_only=False, steps=data.steps,
                          lead=data.lead, act=lambda dev, a: [dev.step_amplitude(a, data.steps, data.lead)])


def device_events(db: Session, user: User, patient_id: int, limit: int = 50) -> list[DeviceEvent]:
    p = patient_for(db, user, patient_id, "device.events", clinician_only=True)
    q = (select(DeviceEvent).join(Device).where(Device.patient_id == p.id)
         .order_by(DeviceEvent.id.desc()).limit(limit))
    return list(db.scalars(q))


# ---------------------------------------------------------------- trial
def active_trial(db: Session, patient_id: int) -> Trial | None:
    return latest(db, Trial, patient_id)


def start_trial(db: Session, user: User, patient_id: int, data: TrialIn) -> Trial:
    p = patient_for(db, user, patient_id, "trial.start", clinician_only=True)
    plan = latest(db, PlanRecord, p.id)
    if plan is None:
        raise Conflict("save a plan (target levels) before starting a trial")
    if p.stage not in ("evaluation", "trial_failed"):
        raise Conflict(f"patient {p.id} is at stage {p.stage!r}; a trial starts from evaluation")
    _check_screening(db, p, data)
    start = datetime.combine(data.start_date, datetime.min.time(), tzinfo=timezone.utc)
    row = _new_device(db, p, "trial", TRIAL_MODEL, TRIAL_LEAD, plan.targets, data.impedance_ohm, start)
    days = get_ipg_model(TRIAL_MODEL).trial_days or 7
    trial = Trial(patient_id=p.id, device_id=row.id, targets=plan.targets, baseline_nrs=data.baseline_nrs,
                  start_date=data.start_date, planned_end_date=data.start_date + timedelta(days=days),
                  screening_override_reason=data.screening_override_reason or None, created_by=user.id)
    db.add(trial)
    p.stage = "trial"
    db.flush()
    audit(db, user, "trial.start", p.id, trial=trial.id, device=row.serial, targets=plan.targets,
          screening_override_reason=trial.screening_override_reason)
    return trial


def _check_screening(db: Session, p: Patient, data: TrialIn) -> None:
    """A trial needs a screening; after 'not eligible' only with the clinician's recorded override reason."""
    scr = latest(db, Screening, p.id)
    if scr is None:
        raise Conflict("screen the candidate before starting a trial (POST the screening first)")
    if not scr.eligible and not data.screening_override_reason:
        unmet = "; ".join(f"{c['criterion']}: {c['detail']}" for c in scr.criteria if not c["met"])
        raise Conflict(f"the latest screening found the patient not eligible ({unmet}); start the trial only with "
                       f"screening_override_reason (the clinician's reason to override, recorded)")


def add_diary(db: Session, user: User, patient_id: int, data: DiaryIn) -> DiaryEntry:
    p = patient_for(db, user, patient_id, "diary.add")
    trial = active_trial(db, p.id)
    if trial is None or trial.status != "active":
        raise Conflict("there is no running trial to keep a diary for")
    _check_diary_day(trial, data.day)
    entry = db.scalar(select(DiaryEntry).where(DiaryEntry.trial_id == trial.id, DiaryEntry.day == data.day))
    if entry is None:
        entry = DiaryEntry(trial_id=trial.id, day=data.day, nrs=data.nrs, medication=data.medication,
                           activity_minutes=data.activity_minutes)
        db.add(entry)
    else:  # a corrected day keeps the old values in the audit trail
        audit(db, user, "diary.replace", p.id, day=data.day.isoformat(),
              old={"nrs": entry.nrs, "medication": entry.medication, "activity_minutes": entry.activity_minutes})
        entry.nrs, entry.medication, entry.activity_minutes = data.nrs, data.medication, data.activity_minutes
    audit(db, user, "diary.add", p.id, trial=trial.id, **data.model_dump(mode="json"))
    db.flush()
    return entry


def _check_diary_day(trial: Trial, day: date) -> None:
    """A diary day lies in the trial (start .. planned end) and is not after today."""
    last = min(trial.planned_end_date, today())
    if not trial.start_date <= day <= last:
        allowed = (f"{trial.start_date.isoformat()} to {last.isoformat()} (the trial's days up to today)"
                   if trial.start_date <= last else f"none yet (the trial starts {trial.start_date.isoformat()})")
        raise InvalidInput("day", day.isoformat(), allowed)


@dataclass
class Relief:
    baseline_nrs: float
    mean_trial_nrs: float | None
    relief_pct: float | None
    days: int
    meets_rule: bool
    ready: bool  # enough diary days to decide


def relief(trial: Trial) -> Relief:
    """Relief = (baseline - mean diary NRS) / baseline; success at >= 50 %."""
    days = len(trial.diary)
    if days == 0:
        return Relief(trial.baseline_nrs, None, None, 0, False, False)
    mean = sum(d.nrs for d in trial.diary) / days
    pct = 100.0 * (trial.baseline_nrs - mean) / trial.baseline_nrs if trial.baseline_nrs > 0 else 0.0
    return Relief(trial.baseline_nrs, mean, pct, days, pct >= RELIEF_RULE_PCT - 1e-9, days >= MIN_DIARY_DAYS)


def nrs_history(db: Session, patient_id: int) -> dict[str, list[tuple[date, int]]]:
    """The patient's NRS over time: every trial's diary days and the follow-up visits, by date."""
    diary = db.execute(select(DiaryEntry.day, DiaryEntry.nrs).join(Trial).where(Trial.patient_id == patient_id)
                       .order_by(DiaryEntry.day)).all()
    visits = db.execute(select(FollowUp.visit_date, FollowUp.nrs).where(FollowUp.patient_id == patient_id)
                        .order_by(FollowUp.visit_date, FollowUp.id)).all()
    return {"trial": [tuple(r) for r in diary], "follow-up": [tuple(r) for r in visits]}


def decide(db: Session, user: User, patient_id: int, data: DecisionIn) -> TrialDecision:
    p = patient_for(db, user, patient_id, "trial.decide", clinician_only=True)
    trial = active_trial(db, p.id)
    if trial is None or trial.status != "active":
        raise Conflict("there is no running trial to decide")
    early = today() < trial.planned_end_date
    if early and not data.end_early_reason:
        raise Conflict(f"the trial runs to {trial.planned_end_date.isoformat()} (today is {today().isoformat()}): "
                       f"the decision is possible from {trial.planned_end_date.isoformat()}, or end the trial early "
                       f"now with end_early_reason (the clinician's reason, recorded)")
    r = relief(trial)
    if not r.ready:
        raise Conflict(f"the diary has {r.days} days; the decision needs at least {MIN_DIARY_DAYS}")
    if data.proceed and not r.meets_rule:
        raise Conflict(f"relief {r.relief_pct:.0f}% is below the {RELIEF_RULE_PCT:.0f}% rule; the trial did not "
                       f"succeed (record proceed=false)")
    dec = TrialDecision(trial_id=trial.id, baseline_nrs=r.baseline_nrs, mean_trial_nrs=r.mean_trial_nrs,
                        relief_pct=r.relief_pct, diary_days=r.days, meets_rule=r.meets_rule, proceed=data.proceed,
                        note=data.note, end_early_reason=data.end_early_reason or None, confirmed_by=user.id)
    db.add(dec)
    trial.status = "decided"
    p.stage = "trial" if data.proceed else "trial_failed"
    trial.device.active = False  # temporary leads out, trial stimulator returned
    audit(db, user, "trial.decide", p.id, trial=trial.id, relief_pct=r.relief_pct, proceed=data.proceed,
          ended_early=early, end_early_reason=dec.end_early_reason)
    db.flush()
    return dec


def decision_of(db: Session, trial: Trial | None) -> TrialDecision | None:
    return None if trial is None else db.scalar(select(TrialDecision).where(TrialDecision.trial_id == trial.id))


def trial_status(db: Session, patient_id: int) -> str:
    """The list's trial column: the day of the running trial by the calendar (never past its planned length),
    'trial ended (N days), decision due' after the planned end, or the decision once made."""
    t = active_trial(db, patient_id)
    if t is None:
        return "no trial"
    r = relief(t)
    relief_txt = "" if r.relief_pct is None else f", relief {r.relief_pct:.0f}%"
    if t.status != "active":
        d = decision_of(db, t)
        return f"trial {'succeeded' if d.proceed else 'failed'} ({d.relief_pct:.0f}% relief)"
    days = (t.planned_end_date - t.start_date).days
    diary = f", {r.days} diary day{'s' if r.days != 1 else ''}"
    if today() >= t.planned_end_date:
        return f"trial ended ({days} days), decision due{diary}{relief_txt}"
    if today() < t.start_date:
        return f"trial starts {t.start_date.isoformat()}"
    return f"trial day {(today() - t.start_date).days + 1}/{days}{diary}{relief_txt}"


# ---------------------------------------------------------------- implant and follow-up
def implant(db: Session, user: User, patient_id: int, data: ImplantIn) -> ImplantRecord:
    p = patient_for(db, user, patient_id, "implant.record", clinician_only=True)
    trial = active_trial(db, p.id)
    dec = decision_of(db, trial)
    if dec is None or not dec.proceed:
        raise Conflict("a permanent system needs a successful trial confirmed by the clinician")
    if p.stage == "implanted":
        raise Conflict(f"patient {p.id} already has an implant")
    check_date("implant_date", data.implant_date, trial.start_date, "the trial's start")
    start = datetime.combine(data.implant_date, datetime.min.time(), tzinfo=timezone.utc)
    row = _new_device(db, p, "ipg", IPG_MODEL, IPG_LEAD, trial.targets, data.impedance_ohm, start)
    dev = load_device(row, now=start)
    offered = _offer_trial_programs(db, user, row, dev, trial)
    rec = ImplantRecord(patient_id=p.id, device_id=row.id, implant_date=data.implant_date, created_by=user.id)
    db.add(rec)
    p.stage = "implanted"
    db.flush()
    _project_battery(db, p, row, dev)
    audit(db, user, "implant.record", p.id, device=row.serial, targets=trial.targets, trial_programs=offered)
    return rec


def _offer_trial_programs(db: Session, user: User, row: Device, dev: Neurostimulator, trial: Trial) -> list[str]:
    """The trial's programs on the new IPG (same targets, same lead numbers): contacts, pulse width, frequency
    and patient range kept; each lead disabled at 0 mA until measured and enabled on the permanent leads."""
    programs = (trial.device.state or {}).get("programs") or {}
    if programs:
        dev.import_programs(_actor(user), programs)
        store_device(db, row, dev)
    return sorted(programs)


def replace_ipg(db: Session, user: User, patient_id: int, data: ReplacementIn) -> ImplantRecord:
    """A new IPG on the same leads: the old one's programs are imported, each lead measured and enabled
    again as it was, the running program restarted; the old IPG is retired with its state and events."""
    p = patient_for(db, user, patient_id, "ipg.replace", clinician_only=True)
    imp = latest(db, ImplantRecord, p.id)
    if imp is None or p.stage != "implanted":
        raise Conflict(f"patient {p.id} has no implanted IPG to replace")
    check_date("replacement_date", data.replacement_date, imp.implant_date, "the implant date")
    old_row = imp.device
    old_dev = load_device(old_row)
    old = old_dev.state
    store_device(db, old_row, old_dev)
    old_row.active = False
    start = datetime.now(timezone.utc)
    row = _new_device(db, p, "ipg", old_row.model_id, IPG_LEAD, old_row.leads, None, start)
    dev = load_device(row, now=start)
    a = _actor(user)
    results = [dev.import_programs(a, old.programs)]
    for name, prog in old.programs.items():
        for lead, ls in prog.leads.items():
            if ls.config_valid and dev.measured_impedance(lead, ls.contacts) is None:
                results.append(dev.measure_impedance(a, name, lead))
            override = ls.approved_charge_per_phase_uc is not None
            if ls.amplitude_ma > 0:
                results.append(dev.set_amplitude(a, name, lead, ls.amplitude_ma, override=override))
            if ls.enabled:
                results.append(dev.enable_lead(a, name, lead, override=override))
    if old.active_program is not None:
        results.append(dev.select_program(a, old.active_program))
        if old.therapy_on or old.battery.depleted:
            results.append(dev.therapy_on(a))
    store_device(db, row, dev)
    rec = ImplantRecord(patient_id=p.id, device_id=row.id, implant_date=data.replacement_date, created_by=user.id)
    db.add(rec)
    db.flush()
    _project_battery(db, p, row, dev)
    out = _outcome(results)
    audit(db, user, "ipg.replace", p.id, old=old_row.serial, new=row.serial, accepted=out.accepted, reason=out.reason)
    return rec


def _project_battery(db: Session, p: Patient, row: Device, dev: Neurostimulator) -> None:
    """The implant's projected replacement date at the running program (primary cell: IPG replacement)."""
    if row.kind != "ipg":
        return
    rec = db.scalar(select(ImplantRecord).where(ImplantRecord.device_id == row.id))
    if rec is None:
        return
    est = dev.battery_estimate()
    left = dev.battery_status().remaining_mah / est.usable_capacity_mah if est.usable_capacity_mah else 1.0
    years = est.longevity_years * left
    rec.projected_replacement_date = (dev.now + timedelta(days=365.25 * years)).date()


def add_follow_up(db: Session, user: User, patient_id: int, data: FollowUpIn) -> FollowUp:
    p = patient_for(db, user, patient_id, "followup.add", clinician_only=True)
    row = active_device(db, p)
    program = None
    if row is not None and row.kind == "ipg":
        st = row.state
        if st.get("active_program"):
            program = st["programs"][st["active_program"]]
    eq5d = {k: getattr(data, k) for k in ("mobility", "self_care", "usual_activities", "pain_discomfort",
                                          "anxiety_depression", "eq_vas")}
    rec = FollowUp(patient_id=p.id, visit_date=data.visit_date, nrs=data.nrs, odi_pct=data.odi_pct, eq5d=eq5d,
                   reprogrammed=data.reprogrammed, program=program, notes=data.notes, created_by=user.id)
    db.add(rec)
    audit(db, user, "followup.add", p.id, **data.model_dump(mode="json"))
    db.flush()
    return rec


def add_adverse_event(db: Session, user: User, patient_id: int, data: AdverseEventIn) -> AdverseEvent:
    p = patient_for(db, user, patient_id, "adverse_event.add", clinician_only=True)
    rec = AdverseEvent(patient_id=p.id, created_by=user.id, **data.model_dump())
    db.add(rec)
    audit(db, user, "adverse_event.add", p.id, **data.model_dump(mode="json"))
    db.flush()
    return rec


def records(db: Session, model, patient_id: int) -> list:
    return list(db.scalars(select(model).where(model.patient_id == patient_id).order_by(model.id)))


def audit_entries(db: Session, user: User, limit: int = 100, patient_id: int | None = None) -> list[AuditEntry]:
    """The audit trail of the clinician's own patients and of the clinician's own actions (or of one patient)."""
    mine = select(Patient.id).where(Patient.clinician_id == user.id)
    where = (AuditEntry.patient_id.in_(mine)) | (AuditEntry.user_id == user.id) if patient_id is None else \
        (AuditEntry.patient_id == patient_id) & AuditEntry.patient_id.in_(mine)
    return list(db.scalars(select(AuditEntry).where(where).order_by(AuditEntry.id.desc()).limit(limit)))


# ---------------------------------------------------------------- remote programming
REMOTE_TIMEOUT_ENV = "DRGSIM_REMOTE_TIMEOUT_S"
REMOTE_HEARTBEAT_S = 3  # the phone's heartbeat period
REMOTE_TIMEOUT_S = 15.0  # default: the phone misses 4 heartbeats before the link counts as lost [project choice]
REMOTE_TIMEOUT_RANGE_S = (2.0 * REMOTE_HEARTBEAT_S, 600.0)  # at least two heartbeat periods [project choice]


def now() -> datetime:
    """The clinic's clock of remote-session heartbeats (UTC), one function so tests can set it."""
    return utcnow()


def remote_timeout_s(raw: str | None) -> float:
    """The heartbeat timeout of remote sessions from its setting (``DRGSIM_REMOTE_TIMEOUT_S``; None: the default)."""
    if raw is None:
        return REMOTE_TIMEOUT_S
    lo, hi = REMOTE_TIMEOUT_RANGE_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:
        raise ValueError(f"{REMOTE_TIMEOUT_ENV}={raw}; allowed: {lo:g}-{hi:g} seconds")
    return value


def _saved(dev: Neurostimulator) -> dict[str, Any]:
    """The settings a remote session returns to: the programs, the selected one, therapy on or off."""
    snap = dev.snapshot()
    return {k: snap[k] for k in ("programs", "active_program", "therapy_on")}


def last_remote(db: Session, patient_id: int) -> RemoteSession | None:
    return latest(db, RemoteSession, patient_id)


def _end_remote(db: Session, user: User | None, rs: RemoteSession, reason: str) -> None:
    """End ``rs``; after a joined session the device reverts to the saved settings (a system event with the
    reason). An offer never joined changed nothing remotely: nothing to revert."""
    if rs.status == "joined":
        row = db.get(Device, rs.device_id)
        dev = load_device(row)
        dev.revert_programs(SYSTEM, rs.saved, reason)
        store_device(db, row, dev)
        _project_battery(db, db.get(Patient, rs.patient_id), row, dev)
    rs.status, rs.open_patient_id, rs.ended_at, rs.end_reason = "ended", None, now(), reason
    audit(db, user, "remote.end", rs.patient_id, session=rs.id, reason=reason)
    db.flush()


def settle_remote(db: Session, patient_id: int) -> RemoteSession | None:
    """The patient's latest remote session after checking its link: a joined session without a heartbeat for
    its timeout ends here and the device reverts. Every request touching the session or the device calls it
    (the clinician's status poll and the phone's heartbeats every few seconds), so no worker keeps a timer."""
    rs = last_remote(db, patient_id)
    if rs is not None and rs.status == "joined":
        silent_s = (now() - as_utc(rs.last_heartbeat_at)).total_seconds()
        if silent_s > rs.timeout_s:
            _end_remote(db, None, rs, f"link lost: no heartbeat from the phone for {silent_s:.0f} s "
                                      f"(timeout {rs.timeout_s:g} s); reverted to the settings saved at "
                                      f"{as_utc(rs.saved_at).strftime('%H:%M:%S')} UTC")
    return rs


def _remote_block(db: Session, user: User, p: Patient) -> str | None:
    """Why a clinician's change cannot go to the device now: a remote session is offered but not joined, or its
    link was found lost by this very request (the change is not applied; the device reverted)."""
    before = last_remote(db, p.id)
    was_joined = before is not None and before.status == "joined"
    rs = settle_remote(db, p.id)
    if rs is None or user.role != "clinician":
        return None
    if rs.status == "offered":
        return "the remote session is offered but the patient has not joined it yet: no link to the stimulator"
    if rs.status == "ended" and was_joined:
        return f"the remote session ended ({rs.end_reason}); this change was not applied"
    return None


def start_remote(db: Session, user: User, patient_id: int, timeout_s: float) -> RemoteSession:
    """Offer the patient a remote programming session (the phone shows a join button)."""
    p, row = device_of(db, user, patient_id, "remote.start", clinician_only=True)
    rs = settle_remote(db, p.id)
    if rs is not None and rs.status != "ended":
        raise Conflict(f"patient {p.id} already has a remote session ({rs.status}); end it first")
    t = now()
    rs = RemoteSession(patient_id=p.id, open_patient_id=p.id, device_id=row.id, clinician_id=user.id,
                       status="offered", timeout_s=timeout_s, saved=_saved(load_device(row)), saved_at=t, started_at=t)
    db.add(rs)
    try:
        db.flush()
    except IntegrityError:  # another worker opened one at the same moment (one open session per patient)
        raise Conflict(f"patient {patient_id} already has a remote session open; end it first") from None
    audit(db, user, "remote.start", p.id, session=rs.id, device=row.serial, timeout_s=timeout_s)
    return rs


def join_remote(db: Session, user: User) -> RemoteSession:
    """The patient joins the offered session from the phone: the device's settings now are the saved ones."""
    p = own_patient(db, user)
    rs = settle_remote(db, p.id)
    if rs is None or rs.status != "offered":
        raise Conflict("no remote session is offered to join" if rs is None or rs.status == "ended"
                       else "the remote session is already joined")
    row = db.get(Device, rs.device_id)
    t = now()
    rs.status, rs.joined_at, rs.last_heartbeat_at = "joined", t, t
    rs.saved, rs.saved_at = _saved(load_device(row)), t
    audit(db, user, "remote.join", p.id, session=rs.id)
    db.flush()
    return rs


def heartbeat_remote(db: Session, user: User) -> RemoteSession | None:
    """The phone is still connected (its poll every few seconds); the session as it is after the check."""
    p = own_patient(db, user)
    rs = settle_remote(db, p.id)
    if rs is not None and rs.status == "joined":
        rs.last_heartbeat_at = now()
        db.flush()
    return rs


def save_remote(db: Session, user: User, patient_id: int) -> RemoteSession:
    """The clinician keeps the settings on the device now: the link dropping later reverts to these."""
    p = patient_for(db, user, patient_id, "remote.save", clinician_only=True)
    rs = settle_remote(db, p.id)
    if rs is None or rs.status != "joined":
        raise Conflict(f"no joined remote session to save (the session is {rs.status if rs else 'not started'})")
    row = db.get(Device, rs.device_id)
    rs.saved, rs.saved_at = _saved(load_device(row)), now()
    audit(db, user, "remote.save", p.id, session=rs.id, saved=rs.saved)
    db.flush()
    return rs


def end_remote(db: Session, user: User, patient_id: int | None = None) -> RemoteSession:
    """Either side ends the session (the patient: ``patient_id`` None, their own); unsaved changes revert."""
    p = own_patient(db, user) if user.role == "patient" else patient_for(db, user, patient_id, "remote.end",
                                                                         clinician_only=True)
    rs = settle_remote(db, p.id)
    if rs is None or rs.status == "ended":
        raise Conflict("no remote session is open")
    _end_remote(db, user, rs, f"ended by the {user.role}")
    return rs
