"""Virtual patients: a pain map, a clinical history and the anatomy of one person.

The anatomy holds every modelled ganglion (T10-S2, both sides) with its geometry and the error of
a DRG lead placed by it, the supine dorsal CSF at T10-T12, the cord's lateral offset and an SCS
lead's lateral error. ``generate_patients`` draws them from the population spreads in
``drgsim/data/spine.json`` (``variability``): DRG volume lognormal per level (Weiner 2022 means and
SDs; all axes scale with the cube root of volume), ganglion depth along the nerve normal, dCSF
lognormal per level with one shared draw per patient, the cord 1.5-2.0 mm off midline in 40%
(Holsheimer 1994), lead errors normal. ``default_patient`` is the mean anatomy with CRPS of the left
foot after failed conservative care. A patient is identified by ``content_hash()``.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim.anatomy._data import load_json
from drgsim.anatomy.candidate import ClinicalHistory, Diagnosis
from drgsim.anatomy.levels import Level, Side, as_level
from drgsim.anatomy.painmap import PainMap
from drgsim.anatomy.posture import Posture
from drgsim.anatomy.spine import (
    CANAL_LEVELS,
    CanalGeometry,
    DRGGeometry,
    canal_geometry,
    canal_level_data,
    drg_geometry,
    drg_level_data,
)

_FROZEN = ConfigDict(extra="forbid", frozen=True)
Vector3 = tuple[float, float, float]


class Variability(BaseModel):
    """Population spreads that are not per-level data (defaults and sources: spine.json, variability)."""

    model_config = _FROZEN

    ganglion_offset_sd_mm: float = Field(ge=0)
    cord_off_midline_fraction: float = Field(ge=0, le=1)
    cord_off_midline_range_mm: tuple[float, float]
    drg_lead_error_sd_mm: float = Field(ge=0)
    scs_lead_lateral_error_sd_mm: float = Field(ge=0)

    @model_validator(mode="after")
    def _range(self):
        lo, hi = self.cord_off_midline_range_mm
        if not 0 < lo <= hi:
            raise ValueError(f"cord_off_midline_range_mm={self.cord_off_midline_range_mm}: need 0 < low <= high")
        return self

    @classmethod
    def default(cls) -> Variability:
        return cls.model_validate(load_json("spine.json")["variability"]["values"])


class Ganglion(BaseModel):
    """One ganglion of a patient and the placement error of a DRG lead beside it."""

    model_config = _FROZEN

    side: Side
    geometry: DRGGeometry
    drg_lead_error_mm: Vector3  # along the nerve (+ lateral), cranio-caudal (+ cranial), dorso-ventral (+ dorsal)


class Patient(BaseModel):
    """A virtual patient: serializable to JSON and identified by the hash of that JSON."""

    model_config = _FROZEN

    id: str
    seed: int | None  # the generator seed that reproduces this patient; None for the default patient
    pain_map: PainMap
    history: ClinicalHistory
    ganglia: list[Ganglion]
    dcsf_mm: dict[Level, float]  # supine midline dorsal CSF at T10-T12
    cord_offset_mm: float  # supine lateral offset of the cord from the canal midline (+ left)
    scs_lead_lateral_error_mm: float  # SCS lead from the vertebral midline (+ left)

    @model_validator(mode="after")
    def _complete(self):
        have = sorted((g.geometry.level.index, g.side) for g in self.ganglia)
        want = sorted((lv.index, s) for lv in Level for s in Side)
        if have != want:
            raise ValueError("ganglia must hold each level T10-S2 once on each side")
        if set(self.dcsf_mm) != set(CANAL_LEVELS):
            raise ValueError(f"dcsf_mm must give {', '.join(CANAL_LEVELS)}")
        for level in CANAL_LEVELS:  # the cord must fit the canal in every posture
            for posture in Posture:
                self.canal_geometry(level, posture)
        return self

    def ganglion(self, level: Level | str, side: Side | str) -> Ganglion:
        level, side = as_level(level), Side(side)
        return next(g for g in self.ganglia if g.geometry.level == level and g.side == side)

    def drg_geometry(self, level: Level | str, side: Side | str) -> DRGGeometry:
        return self.ganglion(level, side).geometry

    def canal_geometry(self, level: Level | str, posture: Posture | str = Posture.SUPINE) -> CanalGeometry:
        """This patient's canal at a thoracic level in a posture."""
        level = as_level(level)
        return canal_geometry(level, posture, dcsf_supine_mm=self.dcsf_mm[level],
                              cord_offset_supine_mm=self.cord_offset_mm)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no spaces, -0.0 as 0.0): equal patients, equal hashes."""
        return _sha256(self.model_dump(mode="json"))

    def anatomy_hash(self) -> str:
        """sha256 of the body alone: every ganglion's geometry, the canal and the cord, without identity, pain,
        history or lead placement. The same person implanted again (``with_lead_errors``) keeps it, so the
        neurons laid in the anatomy (the therapy layer's population seeds) stay the same person's neurons."""
        return _sha256(self.model_dump(mode="json", exclude={
            "id": True, "seed": True, "pain_map": True, "history": True, "scs_lead_lateral_error_mm": True,
            "ganglia": {"__all__": {"drg_lead_error_mm"}}}))


def _sha256(data) -> str:
    def canonical(v):  # -0.0 (a zero spread times a negative draw) is the same number as 0.0
        if isinstance(v, float):
            return v + 0.0
        if isinstance(v, dict):
            return {k: canonical(x) for k, x in v.items()}
        return [canonical(x) for x in v] if isinstance(v, list) else v
    text = json.dumps(canonical(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def default_pain_map() -> PainMap:
    """CRPS of the left foot: sole, heel and dorsum."""
    return PainMap(nrs={"left_sole": 8, "left_heel": 7, "left_foot_dorsum": 6})


def default_history() -> ClinicalHistory:
    """CRPS I of the left foot for 18 months; gabapentinoid, antidepressant and NSAID, sympathetic blocks and
    physiotherapy failed; screened, BDI-II 14, no exclusion or contraindication."""
    return ClinicalHistory(diagnosis=Diagnosis.CRPS_I, neuropathic=True, pain_duration_months=18,
                           failed_drug_classes=3, failed_injections=True, failed_therapy=True,
                           psych_screened=True, bdi_ii=14)


def default_patient() -> Patient:
    """The embedded default patient: mean anatomy, CRPS of the left foot after failed conservative care."""
    return Patient(
        id="default-crps-left-foot", seed=None, pain_map=default_pain_map(), history=default_history(),
        ganglia=[Ganglion(side=s, geometry=drg_geometry(lv), drg_lead_error_mm=(0.0, 0.0, 0.0))
                 for lv in Level for s in Side],
        dcsf_mm={lv: canal_level_data(lv).dcsf_mm for lv in CANAL_LEVELS},
        cord_offset_mm=0.0, scs_lead_lateral_error_mm=0.0)


def _lognormal(rng: np.random.Generator, mean: float, sd: float, z: float | None = None) -> float:
    """A lognormal draw with the given mean and SD (from the standard normal ``z`` if given)."""
    sigma = math.sqrt(math.log1p((sd / mean) ** 2))
    mu = math.log(mean) - sigma**2 / 2
    return math.exp(mu + sigma * (rng.standard_normal() if z is None else z))


def _ganglion(rng: np.random.Generator, level: Level, side: Side, var: Variability) -> Ganglion:
    data, mean = drg_level_data(level), drg_geometry(level)
    scale = (_lognormal(rng, data.volume_mm3, data.volume_sd_mm3) / data.volume_mm3) ** (1 / 3)
    geometry = DRGGeometry(**{
        **mean.model_dump(),
        "ganglion_length_mm": mean.ganglion_length_mm * scale,
        "ganglion_width_mm": mean.ganglion_width_mm * scale,
        "ganglion_height_mm": mean.ganglion_height_mm * scale,
        "ganglion_offset_mm": mean.ganglion_offset_mm + var.ganglion_offset_sd_mm * rng.standard_normal()})
    return Ganglion(side=side, geometry=geometry, drg_lead_error_mm=_drg_lead_error(rng, var))


def _drg_lead_error(rng: np.random.Generator, var: Variability) -> Vector3:
    return tuple(float(e) for e in var.drg_lead_error_sd_mm * rng.standard_normal(3))


def _scs_lead_error(rng: np.random.Generator, var: Variability) -> float:
    return float(var.scs_lead_lateral_error_sd_mm * rng.standard_normal())


def generate_patient(seed: int, id: str | None = None, pain_map: PainMap | None = None,
                     history: ClinicalHistory | None = None, variability: Variability | None = None) -> Patient:
    """One virtual patient drawn from the population spreads; the same seed gives the same patient."""
    var = variability or Variability.default()
    rng = np.random.default_rng(seed)
    ganglia = [_ganglion(rng, lv, s, var) for lv in Level for s in Side]
    z = rng.standard_normal()  # one dCSF draw per patient, shared by T10-T12
    dcsf = {lv: _lognormal(rng, canal_level_data(lv).dcsf_mm, canal_level_data(lv).dcsf_sd_mm, z)
            for lv in CANAL_LEVELS}
    lo, hi = var.cord_off_midline_range_mm
    off_midline = rng.random() < var.cord_off_midline_fraction
    magnitude = rng.uniform(lo, hi) if off_midline else rng.uniform(0.0, lo)
    cord_offset = float(magnitude * rng.choice([-1.0, 1.0]))
    return Patient(
        id=id or f"vp-{seed}", seed=seed, pain_map=pain_map or default_pain_map(),
        history=history or default_history(), ganglia=ganglia, dcsf_mm=dcsf, cord_offset_mm=cord_offset,
        scs_lead_lateral_error_mm=_scs_lead_error(rng, var))


def with_lead_errors(patient: Patient, seed, variability: Variability | None = None) -> Patient:
    """The same person with every lead placed again: each ganglion's DRG lead error and the SCS lead's lateral
    error redrawn from ``variability``'s spreads (a second procedure, as a permanent implant after a trial's
    temporary leads); ``seed`` is anything ``numpy.random.default_rng`` takes."""
    var = variability or Variability.default()
    rng = np.random.default_rng(seed)
    ganglia = [g.model_copy(update={"drg_lead_error_mm": _drg_lead_error(rng, var)}) for g in patient.ganglia]
    return patient.model_copy(update={"ganglia": ganglia, "scs_lead_lateral_error_mm": _scs_lead_error(rng, var)})


def patient_seeds(n: int, seed: int) -> list[int]:
    """``n`` distinct per-patient seeds derived from one cohort seed (53-bit: exact in JSON everywhere)."""
    return [int(s) >> 11 for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64)]


def generate_patients(n: int, seed: int, pain_map: PainMap | None = None, history: ClinicalHistory | None = None,
                      variability: Variability | None = None) -> list[Patient]:
    """A seeded cohort of ``n`` virtual patients (ids ``vp<seed>-<i>``), each reproducible from its own seed."""
    if n < 0:
        raise ValueError(f"n={n}: must be >= 0")
    var = variability or Variability.default()
    return [generate_patient(s, id=f"vp{seed}-{i:05d}", pain_map=pain_map, history=history, variability=var)
            for i, s in enumerate(patient_seeds(n, seed))]


def load_patient(source: str) -> Patient:
    """``default`` (the embedded default patient) or a JSON/YAML file holding a ``Patient``."""
    from pathlib import Path

    import yaml

    if source == "default":
        return default_patient()
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"patient={source!r}: no such file; allowed: 'default' or a JSON/YAML patient file")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return Patient.model_validate(data)
