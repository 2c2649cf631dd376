"""The clinic's records (SQLAlchemy 2 ORM): people, the therapy pathway, devices, audit.

The pathway follows clinical practice (ACCURATE, Deer et al. 2017, Pain 158:669; TRIAL-STIM, Eldabe et al.
2020): candidate screening,
a pain map, a plan of DRG target levels, a one-week trial with temporary leads and an external
trial stimulator with a daily diary, the >= 50 % relief decision, the implant, programs, follow-up
visits (NRS, ODI, EQ-5D-5L) and adverse events. A stimulator's state and every device event
(``drgsim.devices``) are stored, so a device is restored exactly as it was left.
Nothing is deleted: pain maps and screenings keep their history; the latest one is current.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(t: datetime) -> datetime:
    """A stored time as UTC: SQLite gives the stored UTC time back naive."""
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    """Someone who signs in: a clinician, or a patient (their controller and diary)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # clinician | patient
    display_name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # set by a clinician's password reset: the temporary password only opens the password page
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInFailure(Base):
    """One failed sign-in under a throttle key (``user:<name>`` or ``addr:<client address>``); kept in the
    database so every server worker counts the same failures (``drgsim.clinic.auth.SignInThrottle``)."""

    __tablename__ = "sign_in_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    at_s: Mapped[float] = mapped_column(Float, index=True)  # the throttle's clock (Unix seconds)


class SignInLockout(Base):
    """A throttle key locked until ``until_s`` (Unix seconds); insert-only, so two workers never collide."""

    __tablename__ = "sign_in_lockouts"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    until_s: Mapped[float] = mapped_column(Float, index=True)


class LoginFormToken(Base):
    """A login form's single-use CSRF token (its SHA-256), until ``expires_s`` (Unix seconds)."""

    __tablename__ = "login_form_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_s: Mapped[float] = mapped_column(Float)


class WebSession(Base):
    """A signed-in browser: the cookie carries the token, the table its SHA-256 and the CSRF token."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="joined")


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    birth_year: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(8))
    diagnosis: Mapped[str] = mapped_column(String(40))
    # evaluation | trial | trial_failed | implanted
    stage: Mapped[str] = mapped_column(String(20), default="evaluation")
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    clinician: Mapped[User] = relationship(foreign_keys=[clinician_id])


class PainMapRecord(Base):
    __tablename__ = "pain_maps"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    nrs: Mapped[dict[str, Any]] = mapped_column()  # atlas region id -> NRS 0-10
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Screening(Base):
    __tablename__ = "screenings"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    history: Mapped[dict[str, Any]] = mapped_column()  # drgsim.anatomy.candidate.ClinicalHistory
    eligible: Mapped[bool] = mapped_column(Boolean)
    criteria: Mapped[list[Any]] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanRecord(Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    targets: Mapped[list[Any]] = mapped_column()  # [{"level": "L5", "side": "left"}, ...] chosen by the clinician
    recommended: Mapped[list[Any]] = mapped_column()  # drgsim.anatomy.planning targets at the time
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """A stimulator (external trial stimulator or IPG), stored whole: leads, state, clock, event chain."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # trial | ipg
    model_id: Mapped[str] = mapped_column(String(40))
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    leads: Mapped[list[Any]] = mapped_column()  # drgsim.devices.ipg.ImplantedLead list + level/side
    state: Mapped[dict[str, Any]] = mapped_column()  # drgsim.devices.ipg.DeviceState
    started_at: Mapped[datetime]
    clock_at: Mapped[datetime]  # device time of the stored state
    last_event: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer)  # optimistic lock: two concurrent writes cannot both land
    __mapper_args__ = {"version_id_col": version}


class DeviceEvent(Base):
    """One device event (``drgsim.devices.events.Event``), accepted or refused; chained by digest."""

    __tablename__ = "device_events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime]
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    accepted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    event: Mapped[dict[str, Any]] = mapped_column()
    digest: Mapped[str] = mapped_column(String(64))


class Trial(Base):
    __tablename__ = "trials"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    targets: Mapped[list[Any]] = mapped_column()
    baseline_nrs: Mapped[float] = mapped_column(Float)
    start_date: Mapped[date] = mapped_column(Date)
    planned_end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | decided
    screening_override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # started although not eligible
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device: Mapped[Device] = relationship()
    diary: Mapped[list["DiaryEntry"]] = relationship(order_by="DiaryEntry.day")


class DiaryEntry(Base):
    __tablename__ = "diary_entries"
    __table_args__ = (UniqueConstraint("trial_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    nrs: Mapped[int] = mapped_column(Integer)
    medication: Mapped[str] = mapped_column(String(200))
    activity_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrialDecision(Base):
    __tablename__ = "trial_decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), unique=True)
    baseline_nrs: Mapped[float] = mapped_column(Float)
    mean_trial_nrs: Mapped[float] = mapped_column(Float)
    relief_pct: Mapped[float] = mapped_column(Float)
    diary_days: Mapped[int] = mapped_column(Integer)
    meets_rule: Mapped[bool] = mapped_column(Boolean)
    proceed: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    end_early_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # decided before the planned end
    confirmed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImplantRecord(Base):
    __tablename__ = "implants"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    implant_date: Mapped[date] = mapped_column(Date)
    projected_replacement_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device: Mapped[Device] = relationship()


class FollowUp(Base):
    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_date: Mapped[date] = mapped_column(Date)
    nrs: Mapped[int] = mapped_column(Integer)
    odi_pct: Mapped[int] = mapped_column(Integer)
    eq5d: Mapped[dict[str, Any]] = mapped_column()  # five dimensions 1-5 and the VAS 0-100
    reprogrammed: Mapped[bool] = mapped_column(Boolean)
    program: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the active program at the visit
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class AdverseEvent(Base):
    __tablename__ = "adverse_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    onset_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ThresholdRecord(Base):
    """Thresholds the patient reported while the clinician ramped one lead's amplitude, for one configuration
    (contacts, pulse width, frequency); each capture is a new row holding the configuration's values so far."""

    __tablename__ = "stimulation_thresholds"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    program: Mapped[str] = mapped_column(String(20))
    lead: Mapped[int] = mapped_column(Integer)
    contacts: Mapped[str] = mapped_column(String(32))  # compact, contact 1 first: '0+-0'
    pulse_width_us: Mapped[float] = mapped_column(Float)
    frequency_hz: Mapped[float] = mapped_column(Float)
    perception_ma: Mapped[float | None] = mapped_column(Float, nullable=True)
    comfort_ma: Mapped[float | None] = mapped_column(Float, nullable=True)
    discomfort_ma: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ParesthesiaMapRecord(Base):
    """Where the patient feels stimulation (atlas regions) with a program's configuration, on one day; a click
    on the map changes that day's entry (the old regions stay in the audit trail)."""

    __tablename__ = "paresthesia_maps"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    program: Mapped[str] = mapped_column(String(20))
    configuration: Mapped[dict[str, Any]] = mapped_column()  # lead -> contacts, amplitude, pulse width, ...
    regions: Mapped[list[Any]] = mapped_column()  # atlas region ids
    day: Mapped[date] = mapped_column(Date)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did or tried what, to which patient's record; refused access is recorded too."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(60))
    patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]] = mapped_column()


class RemoteSession(Base):
    """A remote programming session (NeuroSphere Virtual Clinic, Abbott 2021): offered by the clinician, joined
    from the patient's phone, kept alive by the phone's heartbeats. ``saved`` holds the device settings the IPG
    goes back to when the session ends or its link drops. Kept in the database so every worker sees one state;
    ``open_patient_id`` is the patient's id while the session is open (NULL once ended): one open session each."""

    __tablename__ = "remote_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    open_patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(8))  # offered | joined | ended
    timeout_s: Mapped[float] = mapped_column(Float)  # no heartbeat for this long: the link is lost
    saved: Mapped[dict[str, Any]] = mapped_column()  # programs, active_program, therapy_on
    saved_at: Mapped[datetime]
    started_at: Mapped[datetime]
    joined_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)  # optimistic lock: a heartbeat and a drop cannot both land
    clinician: Mapped[User] = relationship()
    __mapper_args__ = {"version_id_col": version}
