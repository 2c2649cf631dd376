"""Request bodies of the clinic (pydantic v2): the API answers 422 naming the field of any violation,
and the pages show the same messages beside the field."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from drgsim.anatomy.candidate import ClinicalHistory, Diagnosis
from drgsim.anatomy.painmap import PainMap, pain_map
from drgsim.anatomy.planning import TargetRef
from drgsim.clinic.auth import MIN_PASSWORD_LENGTH, password_problem
from drgsim.clinic.catalog import IPG_MODEL, clinic_ipg
from drgsim.devices.closedloop import CeilingControl, PIControl
from drgsim.devices.program import PatientLimits

_IN = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)  # NaN/Infinity: 422
USERNAME = r"^[a-z0-9_.-]{3,64}$"


PASSWORD_RULE = f"at least {MIN_PASSWORD_LENGTH} characters, not containing the username, not a common password"


def strong_password(v: str, username: str | None) -> str:
    """``v`` if it keeps the password rule (ValueError naming the rule it breaks)."""
    problem = password_problem(v, username)
    if problem:
        raise ValueError(f"{problem} (rule: {PASSWORD_RULE})")
    return v


class Login(BaseModel):
    model_config = _IN
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class PatientIn(BaseModel):
    """A new patient and the sign-in for their controller and diary."""

    model_config = _IN
    name: str = Field(min_length=1, max_length=120)
    birth_year: int = Field(ge=1900, le=date.today().year)
    sex: Literal["female", "male", "other"]
    diagnosis: Diagnosis
    username: str = Field(pattern=USERNAME, description="3-64 of a-z 0-9 _ . -")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200, description=PASSWORD_RULE)

    @field_validator("password")
    @classmethod
    def _strong(cls, v: str, info: ValidationInfo) -> str:
        return strong_password(v, info.data.get("username"))


STAGES = ("evaluation", "trial", "trial_failed", "implanted")


class PatientSearchIn(BaseModel):
    """The clinician's list filter: words each found in the name, id, diagnosis or stage; an exact stage and
    diagnosis (empty: any)."""

    model_config = _IN
    q: str = Field("", max_length=100)
    stage: Literal[STAGES] | None = None
    diagnosis: Diagnosis | None = None


class PasswordChangeIn(BaseModel):
    """A signed-in user's new password; the current one proves it is them (a stolen session is not enough)."""

    model_config = _IN
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200, description=PASSWORD_RULE)


class PainMapIn(BaseModel):
    model_config = _IN
    nrs: dict[str, int] = Field(description="atlas region id -> NRS 0-10")

    @field_validator("nrs")
    @classmethod
    def _atlas(cls, v: dict[str, int]) -> dict[str, int]:
        return pain_map(v).nrs  # names the unknown region or the NRS out of 0-10

    def pain(self) -> PainMap:
        return PainMap(nrs=self.nrs)


class RegionIn(BaseModel):
    """One click on the body map: set ``region`` to ``nrs`` (0 removes it)."""

    model_config = _IN
    region: str
    nrs: int = Field(ge=0, le=10)


class PlanIn(BaseModel):
    model_config = _IN
    targets: list[TargetRef] = Field(min_length=1, description="one lead per target, at most the IPG's leads")

    @field_validator("targets")
    @classmethod
    def _leads_and_ganglia(cls, v: list[TargetRef]) -> list[TargetRef]:
        if len(v) > clinic_ipg().max_leads:
            raise ValueError(f"targets has {len(v)} entries; allowed: 1-{clinic_ipg().max_leads} (one lead per "
                             f"target on the {IPG_MODEL})")
        keys = [(t.level, t.side) for t in v]
        if len(set(keys)) != len(keys):
            raise ValueError("each ganglion (level and side) at most once")
        return v


class TrialIn(BaseModel):
    model_config = _IN
    start_date: date
    baseline_nrs: float = Field(ge=0, le=10, description="average pain before the trial, NRS 0-10")
    impedance_ohm: float = Field(1000.0, ge=100, le=20_000, description="tissue load of each temporary lead")
    screening_override_reason: str = Field("", max_length=2000, description="the clinician's reason to start a "
                                           "trial although the latest screening found the patient not eligible")


class DiaryIn(BaseModel):
    model_config = _IN
    day: date
    nrs: int = Field(ge=0, le=10)
    medication: str = Field("", max_length=200)
    activity_minutes: int = Field(ge=0, le=1440)


class DecisionIn(BaseModel):
    model_config = _IN
    proceed: bool
    note: str = Field("", max_length=2000)
    end_early_reason: str = Field("", max_length=2000, description="the clinician's reason to end the trial "
                                  "before its planned end (required to decide before then)")


class ImplantIn(BaseModel):
    model_config = _IN
    implant_date: date
    impedance_ohm: float = Field(1000.0, ge=100, le=20_000, description="tissue load of each implanted lead")


class ReplacementIn(BaseModel):
    """The IPG is replaced (a primary cell at its end of service); the leads stay."""

    model_config = _IN
    replacement_date: date


class ProgramIn(BaseModel):
    model_config = _IN
    name: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9 _-]+$")


class LeadIn(BaseModel):
    """A lead's settings in a program, as the programmer sends them (device grid, checked by the device)."""

    model_config = _IN
    contacts: str = Field(pattern=r"^[+\-0]+$", description="one character per contact of the lead, contact 1 first: "
                                                         "+ anode, - cathode, 0 off")
    amplitude_ma: float = Field(ge=0)
    pulse_width_us: float = Field(gt=0)
    frequency_hz: float = Field(gt=0)
    enabled: bool
    min_amplitude_ma: float = Field(0.0, ge=0)
    max_amplitude_ma: float = Field(0.0, ge=0)
    override: bool = False

    @field_validator("contacts")
    @classmethod
    def _one_per_contact(cls, v: str) -> str:
        n = clinic_ipg().contacts_per_lead
        if len(v) != n:
            raise ValueError(f"contacts={v!r} has {len(v)} characters; allowed: {n}, one per contact of the "
                             f"{IPG_MODEL} lead")
        return v

    @model_validator(mode="after")
    def _range(self):
        PatientLimits(min_amplitude_ma=self.min_amplitude_ma, max_amplitude_ma=self.max_amplitude_ma)
        return self


class ThresholdIn(BaseModel):
    """Thresholds the patient reports on an amplitude ramp (mA; blank: not captured now), checked on the device."""

    model_config = _IN
    perception_ma: float | None = Field(None, ge=0, description="the patient first feels stimulation")
    comfort_ma: float | None = Field(None, ge=0, description="the strongest comfortable stimulation")
    discomfort_ma: float | None = Field(None, ge=0, description="stimulation becomes uncomfortable")

    @model_validator(mode="after")
    def _one_given(self):
        if self.perception_ma is None and self.comfort_ma is None and self.discomfort_ma is None:
            raise ValueError("give at least one of perception_ma, comfort_ma, discomfort_ma (mA)")
        return self


class RampIn(BaseModel):
    """A move of an amplitude by device steps (a threshold ramp of one lead, or the patient's controller)."""

    model_config = _IN
    steps: int = Field(ge=-10, le=10)

    @field_validator("steps")
    @classmethod
    def _nonzero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("steps=0: a non-zero number of device steps, -10 to 10")
        return v


class OpenLoop(BaseModel):
    """No controller: the lead delivers its programmed amplitude."""

    model_config = _IN
    mode: Literal["off"]


class ClosedLoopIn(BaseModel):
    """A lead's closed-loop setting as the programmer sends it: ``mode`` off (open loop), pi (Evoke-like: hold the
    ECAP at ``target_uv``) or ceiling (Inceptiv-like: keep it under ``ceiling_uv``), with the controller's gains and
    deadband (absent: the device's defaults); checked by the device's own controller models, naming the field."""

    model_config = _IN
    closed_loop: Annotated[OpenLoop | PIControl | CeilingControl, Field(discriminator="mode")]

    def controller(self) -> PIControl | CeilingControl | None:
        return None if isinstance(self.closed_loop, OpenLoop) else self.closed_loop


class StepIn(RampIn):
    lead: int | None = Field(None, description="IPG lead number; none: every enabled lead")

    @field_validator("lead")
    @classmethod
    def _known_lead(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= clinic_ipg().max_leads:
            raise ValueError(f"lead={v}; allowed: 1-{clinic_ipg().max_leads} ({IPG_MODEL} lead numbers)")
        return v


class MappingIn(BaseModel):
    """Where the patient feels a program's present configuration: atlas region ids (empty: felt nowhere)."""

    model_config = _IN
    regions: list[str] = Field(max_length=200, description="atlas region ids, e.g. left_sole")


class TherapyIn(BaseModel):
    model_config = _IN
    on: bool
    program: str | None = Field(None, max_length=20)


class FollowUpIn(BaseModel):
    """A follow-up visit: NRS, Oswestry Disability Index (0-100 %), EQ-5D-5L levels (1-5) and EQ VAS."""

    model_config = _IN
    visit_date: date
    nrs: int = Field(ge=0, le=10)
    odi_pct: int = Field(ge=0, le=100)
    mobility: int = Field(ge=1, le=5)
    self_care: int = Field(ge=1, le=5)
    usual_activities: int = Field(ge=1, le=5)
    pain_discomfort: int = Field(ge=1, le=5)
    anxiety_depression: int = Field(ge=1, le=5)
    eq_vas: int = Field(ge=0, le=100)
    reprogrammed: bool = False
    notes: str = Field("", max_length=4000)


class AdverseEventIn(BaseModel):
    model_config = _IN
    onset_date: date
    kind: Literal["lead_migration", "infection", "lead_fracture", "csf_leak", "ipg_site_pain", "other"]
    severity: Literal["mild", "moderate", "severe", "serious"]
    description: str = Field(min_length=1, max_length=4000)
    resolved: bool = False


class ScreeningIn(ClinicalHistory):
    """The candidate check's clinical history (drgsim.anatomy.candidate.ClinicalHistory)."""

    model_config = ConfigDict(**ClinicalHistory.model_config, allow_inf_nan=False)
