"""Seeded virtual cohorts drawn as ACCURATE enrolled its patients (``drgsim/data/cohort.json``).

A cohort of ``n`` patients from one seed: each patient's anatomy comes from
``anatomy.patient.generate_patient`` (DRG volume per level lognormal after Weiner 2022, ganglion depth,
dCSF per level with its spread and the posture shifts, cord offset after Holsheimer 1994); on top of it
the cohort draws the condition and the pain map of lower-limb CRPS I / causalgia (foot, ankle, knee,
leg and groin groups, one or more, on one side or both) and scales the lead placement errors by
``lead_error_scale`` (no published distribution of placement error exists: the scale exposes it).
Patients are also randomized 1:1 in permuted blocks (ACCURATE, Deer et al. 2017, Pain 158:669), so a
cohort gives both the paired view (every patient in both arms) and the randomized one. Each patient is
implanted twice, as in the trial: temporary leads for the trial phase (``trial``: the same person with
its own placement errors, drawn from the same spreads) and the permanent leads (``patient``).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.anatomy._data import load_json
from drgsim.anatomy.candidate import Diagnosis
from drgsim.anatomy.painmap import PainMap
from drgsim.anatomy.patient import (
    Patient,
    Variability,
    default_history,
    generate_patient,
    patient_seeds,
    with_lead_errors,
)

ARMS = ("drg", "scs")
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class PainGroup(BaseModel):
    model_config = _FROZEN

    probability: float = Field(ge=0, le=1)
    regions: list[str] = Field(min_length=1)  # atlas regions without the side prefix


class TrialPopulation(BaseModel):
    """The condition, pain-map and placement spreads of the cohort (defaults and sources: cohort.json)."""

    model_config = _FROZEN

    diagnosis: dict[Diagnosis, float]
    pain_groups: dict[str, PainGroup]
    bilateral_fraction: float = Field(ge=0, le=1)
    nrs: dict[str, int]
    randomization: dict[str, int]
    lead_error_scale: float = Field(ge=0, le=5, description="multiplies the lead placement error SDs")

    @classmethod
    def default(cls, **update) -> TrialPopulation:
        data = {k: v for k, v in load_json("cohort.json").items() if k not in ("description", "sources")}
        return cls.model_validate({**data, **update})


class CohortConfig(BaseModel):
    """What makes a cohort: its size, seed, quality and trial population (a results folder holds one)."""

    model_config = _FROZEN

    n: int = Field(ge=1, le=100_000)
    seed: int = Field(ge=0)
    quality: str
    population: TrialPopulation = Field(default_factory=TrialPopulation.default)


class CohortPatient(BaseModel):
    model_config = _FROZEN

    index: int
    patient: Patient  # with the permanent leads' placement errors
    trial: Patient  # the same person with the trial phase's temporary leads' placement errors
    randomized_arm: str  # the arm of the randomized view
    pain_groups: list[str]  # groups of the pain map (foot, knee, ...)


def _pain_map(rng: np.random.Generator, pop: TrialPopulation) -> tuple[PainMap, list[str]]:
    names = list(pop.pain_groups)
    chosen = [g for g in names if rng.random() < pop.pain_groups[g].probability]
    if not chosen:  # everyone has pain somewhere: one group by its probability
        p = np.array([pop.pain_groups[g].probability for g in names])
        chosen = [names[rng.choice(len(names), p=p / p.sum())]]
    sides = ["left", "right"]
    first = sides[int(rng.integers(2))]
    limbs = sides if rng.random() < pop.bilateral_fraction else [first]
    nrs = {}
    for g in chosen:
        regions = pop.pain_groups[g].regions
        k = int(rng.integers(1, len(regions) + 1))
        for r in rng.choice(regions, size=k, replace=False):
            level = int(rng.integers(pop.nrs["low"], pop.nrs["high"] + 1))
            for side in limbs:
                nrs[f"{side}_{r}"] = level
    return PainMap(nrs=nrs), chosen


def _arms(n: int, seed: int, block: int) -> list[str]:
    """1:1 permuted blocks: each block of ``block`` patients holds as many DRG as SCS."""
    rng = np.random.default_rng([seed, 1])
    out = []
    while len(out) < n:
        out += list(rng.permutation([ARMS[i % 2] for i in range(block)]))
    return [str(a) for a in out[:n]]


def draw_cohort(config: CohortConfig) -> list[CohortPatient]:
    """The cohort's patients; patient ``i`` depends only on the seed and ``i`` (a larger ``n`` extends it)."""
    pop = config.population
    base = Variability.default()
    var = base.model_copy(update={
        "drg_lead_error_sd_mm": base.drg_lead_error_sd_mm * pop.lead_error_scale,
        "scs_lead_lateral_error_sd_mm": base.scs_lead_lateral_error_sd_mm * pop.lead_error_scale})
    arms = _arms(config.n, config.seed, pop.randomization["block"])
    diagnoses = list(pop.diagnosis)
    shares = np.array([pop.diagnosis[d] for d in diagnoses])
    out = []
    for i, s in enumerate(patient_seeds(config.n, config.seed)):
        rng = np.random.default_rng([s, 2])  # the cohort's own draws, apart from the anatomy's stream
        pain, groups = _pain_map(rng, pop)
        history = default_history().model_copy(
            update={"diagnosis": diagnoses[rng.choice(len(diagnoses), p=shares / shares.sum())]})
        patient = generate_patient(s, id=f"c{config.seed}-{i:05d}", pain_map=pain, history=history,
                                   variability=var)
        trial = with_lead_errors(patient, [s, 3], var)
        out.append(CohortPatient(index=i, patient=patient, trial=trial, randomized_arm=arms[i], pain_groups=groups))
    return out
