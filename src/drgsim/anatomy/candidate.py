"""Candidate check: does a patient meet the criteria for DRG stimulation, and why (not)?

Criteria as in the ACCURATE trial (Deer et al. 2017, Pain 158:669) and SCS/DRG practice: chronic (>= 6 months)
focal neuropathic pain after
conservative care failed (drugs of >= 2 classes, injections, therapy); psychological screening
before implant, with BDI-II > 28 calling for treatment first and active psychosis, suicidality,
substance use disorder or dementia excluding; contraindications include infection and inability
to operate the system. CRPS I/II of a lower limb is the approved indication; other diagnoses are
reported as off-label, not excluded. "Focal" is read from the pain map: the recommended DRG
leads (at most 4) must carry the planning coverage goal of the pain.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from drgsim.anatomy.painmap import PainMap
from drgsim.anatomy.planning import COVERAGE_GOAL, plan_targets

MIN_DURATION_MONTHS = 6
MIN_DRUG_CLASSES = 2
BDI_II_TREAT_FIRST_ABOVE = 28
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Diagnosis(StrEnum):
    CRPS_I = "crps_i"
    CRPS_II = "crps_ii"
    PERIPHERAL_NERVE_INJURY = "peripheral_nerve_injury"
    POSTSURGICAL = "postsurgical"
    PHANTOM_LIMB = "phantom_limb"
    RADICULOPATHY = "radiculopathy"
    OTHER = "other"


APPROVED = frozenset({Diagnosis.CRPS_I, Diagnosis.CRPS_II})


class PsychExclusion(StrEnum):
    PSYCHOSIS = "psychosis"
    SUICIDALITY = "suicidality"
    SUBSTANCE_USE_DISORDER = "substance_use_disorder"
    DEMENTIA = "dementia"


class Contraindication(StrEnum):
    INFECTION = "infection"
    CANNOT_OPERATE_SYSTEM = "cannot_operate_system"


class ClinicalHistory(BaseModel):
    """What the candidate check needs to know; unknown facts default to 'not documented'."""

    model_config = _FROZEN

    diagnosis: Diagnosis = Diagnosis.OTHER
    neuropathic: bool = False
    pain_duration_months: Annotated[float, Field(ge=0)] = 0.0
    failed_drug_classes: Annotated[int, Field(ge=0)] = 0
    failed_injections: bool = False
    failed_therapy: bool = False
    psych_screened: bool = False
    bdi_ii: Annotated[int, Field(ge=0, le=63)] | None = None
    psych_exclusions: list[PsychExclusion] = Field(default_factory=list)
    contraindications: list[Contraindication] = Field(default_factory=list)


class Criterion(BaseModel):
    model_config = _FROZEN

    criterion: str
    met: bool
    detail: str


class CandidateAssessment(BaseModel):
    """Eligible only when every criterion is met; notes do not decide."""

    model_config = _FROZEN

    eligible: bool
    criteria: list[Criterion]
    notes: list[str]

    @property
    def reasons(self) -> list[str]:
        """The unmet criteria, in words."""
        return [f"{c.criterion}: {c.detail}" for c in self.criteria if not c.met]


def assess_candidate(history: ClinicalHistory, pain: PainMap) -> CandidateAssessment:
    """Check a candidate against the criteria above, each with its reason."""
    h = history
    criteria = [Criterion(
        criterion="duration", met=h.pain_duration_months >= MIN_DURATION_MONTHS,
        detail=f"pain for {h.pain_duration_months:g} months (needs >= {MIN_DURATION_MONTHS})")]

    drugs_ok = h.failed_drug_classes >= MIN_DRUG_CLASSES
    other = [name for name, done in (("injections", h.failed_injections), ("therapy", h.failed_therapy)) if done]
    criteria.append(Criterion(
        criterion="failed conservative care", met=drugs_ok and bool(other),
        detail=(f"{h.failed_drug_classes} drug class(es) failed (needs >= {MIN_DRUG_CLASSES}); "
                f"failed injections or therapy: {', '.join(other) if other else 'none documented'} "
                "(needs at least one)")))

    criteria.append(Criterion(
        criterion="neuropathic pain", met=h.neuropathic,
        detail="neuropathic pain diagnosed" if h.neuropathic else "pain not documented as neuropathic"))

    plan = plan_targets(pain)
    names = ", ".join(f"{r.side} {r.level}" for r in plan.recommended)
    criteria.append(Criterion(
        criterion="focal pain", met=plan.coverage >= COVERAGE_GOAL - 1e-9,
        detail=(f"{len(plan.recommended)} DRG lead(s) ({names}) carry {100 * plan.coverage:.0f}% of the pain "
                f"(needs >= {100 * COVERAGE_GOAL:.0f}% with at most {plan.max_leads} leads)")))

    if not h.psych_screened:
        met, detail = False, "no psychological screening documented (required before implant)"
    elif h.psych_exclusions:
        met, detail = False, f"excluded by {', '.join(h.psych_exclusions)}"
    elif h.bdi_ii is not None and h.bdi_ii > BDI_II_TREAT_FIRST_ABOVE:
        met, detail = False, f"BDI-II {h.bdi_ii} > {BDI_II_TREAT_FIRST_ABOVE}: treat depression first"
    else:
        bdi = f", BDI-II {h.bdi_ii}" if h.bdi_ii is not None else ", BDI-II not recorded"
        met, detail = True, f"screened, no exclusion{bdi}"
    criteria.append(Criterion(criterion="psychological screening", met=met, detail=detail))

    criteria.append(Criterion(
        criterion="contraindications", met=not h.contraindications,
        detail=", ".join(h.contraindications) if h.contraindications else "none documented"))

    notes = [f"{h.diagnosis} is the approved indication (CRPS I/II of a lower limb)" if h.diagnosis in APPROVED
             else f"{h.diagnosis} is not the approved indication (CRPS I/II of a lower limb): off-label use"]
    return CandidateAssessment(eligible=all(c.met for c in criteria), criteria=criteria, notes=notes)
