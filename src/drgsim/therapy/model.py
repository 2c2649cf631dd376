"""From a patient and an implant to threshold tables: the fields, cells and tables of every lead.

A ``TherapyModel`` holds one patient's implant of one system (DRG or SCS). For each lead and posture
it builds the finite-element field (``drgsim.fields``, cached), the population of cells the lead can
reach (``drgsim.populations``), the unit potentials of every contact along every compartment, and
on demand a ``ThresholdTable``: the threshold of every cell for one contact configuration and
pulse. Because the field is linear in the current, a cell fires at amplitude A exactly when A is
at least its threshold; one table answers every amplitude. Tables are cached on disk by a hash of
everything that produced them (field spec, population, configuration, waveform, solver settings
and the code), so a stale table is never read.

The system of the implant (its field model, cells and devices) is its entry in ``therapy.systems``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim import fingerprint
from drgsim.anatomy.patient import Patient
from drgsim.anatomy.posture import Posture
from drgsim.devices.leads import get_lead
from drgsim.devices.program import ContactState, LeadSettings, contacts_label
from drgsim.devices.waveform import Waveform, contact_weights, device_waveform
from drgsim.fields.solve import FIELD_DATA_FILES, FieldSolution, FieldSpec, MeshSettings, cache_dir, solve, solve_many
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds
from drgsim.populations import CellInfo, Population
from drgsim.populations.drg import DRGPopulationConfig
from drgsim.populations.scs import SCSPopulationConfig
from drgsim.therapy.systems import (  # noqa: F401
    SCS_IPSILATERAL_OFFSET_MM,
    SYSTEMS,
    Implant,
    LeadPlan,
    System,
    _drg_params,
    _scs_params,
    plan_implant,
    system_spec,
)

TABLES_SCHEMA = 2  # bump when the stored table format changes
POPULATION_SCALE_RANGE = (0.1, 10.0)  # Quality.scaled
_FROZEN = ConfigDict(extra="forbid", frozen=True)


# Dorsal-column fibres that carry paresthesia: the ascending branches of the same A-beta afferents the
# DRG model holds (7-12 um peripherally), thinner centrally. Feirabend's mostly thin spectrum (the
# populations default) also counts fibres that evoke no paresthesia [project choice, unverified].
SCS_ABETA_DIAMETER = dict(diameter_median_um=7.0, diameter_sigma=0.25)


class Quality(BaseModel):
    """Discretisation and population sizes: the trade between fidelity and time."""

    model_config = _FROZEN

    # One optimisation pass (Netgen's default is 3): on the default patient's S1 lead the potentials 1-5 mm from
    # the contacts move by at most 0.47% of their peak (standard; 4.0% quick), less than re-meshing the same
    # geometry moves them (1.38%; 5.3% quick), for about a third less mesh time (issue 13's note, stop 33).
    mesh: MeshSettings = MeshSettings(maxh_mm=12.0, contact_maxh_mm=0.6, near_maxh_mm=1.5, grading=0.4,
                                      optimize_steps=1)
    drg_population: DRGPopulationConfig = DRGPopulationConfig(n_neurons=80, n_motor=8)
    scs_population: SCSPopulationConfig = SCSPopulationConfig(n_dorsal_column=160, n_dorsal_root=12,
                                                              **SCS_ABETA_DIAMETER)
    rel_tol: float = Field(0.02, gt=0, lt=0.5, description="relative tolerance of every threshold")
    settings: SimulationSettings = SimulationSettings()

    def scaled(self, population_scale: float) -> Quality:
        """The same quality with every population ``population_scale`` times as large (convergence checks)."""
        lo, hi = POPULATION_SCALE_RANGE
        if not lo <= population_scale <= hi:
            raise ValueError(f"population_scale={population_scale}; allowed: {lo:g}-{hi:g}")
        n = lambda v: max(1, round(v * population_scale)) if v else 0  # noqa: E731
        update = {}
        for spec in SYSTEMS.values():
            config = getattr(self, spec.population_quality)
            update[spec.population_quality] = config.model_copy(
                update={count: n(getattr(config, count)) for count in spec.population_counts})
        return self.model_copy(update=update)


QUALITY = {
    "standard": Quality(),
    # For tests and quick looks: first-order elements, small populations and a 5 us step (thresholds within
    # 1.8% of a 1.25 us step for MRG, A-beta and C cells at 60-300 us; issue 12's note). 60 DRG neurons
    # hold about 10 large ones: with 24 (4 large) the perception threshold rested on whichever few
    # were drawn, all far from the lead in the default patient. 30 dorsal-column fibres left none below
    # the dorsal-root limit there; 60 do.
    "quick": Quality(mesh=MeshSettings(maxh_mm=20.0, contact_maxh_mm=0.8, near_maxh_mm=2.0, grading=0.4, order=1,
                                       optimize_steps=1),
                     drg_population=DRGPopulationConfig(n_neurons=60, n_motor=4),
                     scs_population=SCSPopulationConfig(n_dorsal_column=60, n_dorsal_root=6,
                                                        **SCS_ABETA_DIAMETER),
                     settings=SimulationSettings(dt_us=5.0)),
}


def quality(name: str) -> Quality:
    if name not in QUALITY:
        raise ValueError(f"quality={name!r}; allowed: {', '.join(QUALITY)}")
    return QUALITY[name]


def _code_fingerprint() -> str:
    """The fields' fingerprint and the code that turns potentials into thresholds: this module and what it
    imports (neurons, populations, devices' waveforms), with the cell models' data."""
    return fingerprint.code_fingerprint(("drgsim.fields.solve", "drgsim.therapy.model"),
                                        FIELD_DATA_FILES + ("mrg.json",))


@dataclass
class ThresholdTable:
    """Every cell of a site for one configuration and pulse: the threshold (mA; ``inf`` where the cell
    stays silent up to ``max_ma``, NaN for kinds not computed) and the upper edge of its first firing
    window (``block_ma``; ``inf`` where it fires up to ``max_ma``). The threshold is for a spike reaching
    the cell's primary detector: the spinal cord (central terminal) for DRG neurons, the far end of
    the fibre otherwise. ``initiation_site`` names the compartment where the decisive spike started;
    ``cut_end`` marks spikes that started within two internodes of an end the model truncated."""

    key: str
    configuration: str
    waveform: Waveform
    max_ma: float
    threshold_ma: np.ndarray
    block_ma: np.ndarray
    initiation_site: list[str]
    cut_end: np.ndarray
    kinds: tuple[str, ...]

    def fires(self, amplitude_ma: float) -> np.ndarray:
        """Cells that fire at ``amplitude_ma``: inside their first firing window."""
        a = amplitude_ma * (1 + 1e-9)
        return (self.threshold_ma <= a) & (amplitude_ma < self.block_ma)


@dataclass
class CellSet:
    """The cells one or more sites lay, built once: the population, its batch (packed and relaxed once)
    and the batches of kind subsets. Sites whose anatomy is the same share one (a DRG lead's postures
    move only the lead). What the cells are (``info``) is also kept on disk, so a run whose tables are
    all cached builds no cell."""

    system: System
    geometry: BaseModel  # the field model's parameters without the lead's (``anatomy_only``)
    config: BaseModel
    _population: Population | None = field(default=None, repr=False)
    _batch: CellBatch | None = field(default=None, repr=False)
    _subsets: dict[tuple[str, ...], tuple[np.ndarray, CellBatch]] = field(default_factory=dict, repr=False)
    _potentials: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @cached_property
    def key(self) -> str:
        text = json.dumps({"geometry": self.geometry.model_dump(mode="json"), "system": self.system.value,
                           "population": self.config.model_dump(mode="json"), "code": _code_fingerprint()},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def population(self) -> Population:
        if self._population is None:
            self._population = system_spec(self.system).build_population(self.geometry, self.config)
            path = self._info_path()
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps([c.model_dump(mode="json") for c in self._population.info]))
                tmp.replace(path)
        return self._population

    @cached_property
    def info(self) -> list[CellInfo]:
        if self._population is None and self._info_path().exists():
            return [CellInfo.model_validate(c) for c in json.loads(self._info_path().read_text())]
        return self.population.info

    def _info_path(self):
        return cache_dir() / "populations" / f"{self.key}.json"

    @cached_property
    def kinds(self) -> np.ndarray:
        return np.array([c.kind for c in self.info])

    @property
    def batch(self) -> CellBatch:
        if self._batch is None:
            self._batch = CellBatch.pack(self.population.cells)
        return self._batch

    def potentials(self, solution: FieldSolution) -> np.ndarray:
        """Every compartment's potential (mV per mA) for each contact of ``solution``, sampled once per field
        (the postures of a DRG lead share one)."""
        key = solution.spec.key()
        if key not in self._potentials:
            self._potentials[key] = solution.potentials(self.batch.positions_mm)
        return self._potentials[key]

    def subset(self, kinds: tuple[str, ...]) -> tuple[np.ndarray, CellBatch]:
        """The cells of ``kinds`` (indices) and their batch."""
        if kinds not in self._subsets:
            sel = np.flatnonzero(np.isin(self.kinds, kinds))
            batch = self.batch if len(sel) == len(self.kinds) else CellBatch.pack(
                [self.population.cells[i] for i in sel])
            self._subsets[kinds] = sel, batch
        return self._subsets[kinds]


@dataclass
class Site:
    """One lead in one posture: its field, its contacts in that field (``columns``: the field's contacts
    that are this posture's), its cells and their unit potentials."""

    system: System
    lead_index: int  # 1-based, as in programs
    plan: LeadPlan
    posture: Posture
    spec: FieldSpec
    columns: tuple[int, ...]
    cells: CellSet
    quality: Quality
    _phi: np.ndarray | None = field(default=None, repr=False)
    _impedance: np.ndarray | None = field(default=None, repr=False)
    _tables: dict[str, ThresholdTable] = field(default_factory=dict, repr=False)

    @property
    def population(self) -> Population:
        return self.cells.population

    @property
    def population_config(self) -> BaseModel:
        return self.cells.config

    @property
    def info(self) -> list[CellInfo]:
        return self.cells.info

    @property
    def kinds(self) -> np.ndarray:
        return self.cells.kinds

    @cached_property
    def key(self) -> str:
        text = json.dumps({"field": self.spec.key(), "columns": self.columns, "cells": self.cells.key}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def label(self) -> str:
        return f"lead {self.lead_index} ({self.plan.level.value} {self.plan.side.value}), {self.posture.value}"

    def _solve(self):
        try:
            return solve(self.spec)
        except RuntimeError as err:
            raise RuntimeError(f"{self.label}: {err}") from err

    def impedance_matrix(self) -> np.ndarray:
        """Mutual impedances of the contacts (ohm), kept in memory after the first (cached) solve."""
        if self._impedance is None:
            cols = list(self.columns)
            self._impedance = np.asarray(self._solve().impedance_ohm)[np.ix_(cols, cols)]
        return self._impedance

    def impedance_ohm(self, contacts: list[ContactState]) -> float:
        """Load impedance of a configuration, w' Z w for the unit current split over its contacts."""
        w = contact_weights(contacts)
        return float(w @ self.impedance_matrix() @ w)

    def table(self, contacts: list[ContactState], waveform: Waveform, max_ma: float,
              kinds: tuple[str, ...] | None = None) -> ThresholdTable:
        """The threshold table of a configuration and pulse (memory, then disk, then computed)."""
        kinds = tuple(sorted(set(self.kinds) if kinds is None else kinds))
        label = contacts_label(contacts)
        text = json.dumps({"site": self.key, "config": label, "waveform": waveform.model_dump(mode="json"),
                           "max_ma": max_ma, "kinds": kinds, "rel_tol": self.quality.rel_tol,
                           "settings": self.quality.settings.model_dump(mode="json"), "schema": TABLES_SCHEMA,
                           "code": _code_fingerprint()}, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()[:24]
        if key in self._tables:
            return self._tables[key]
        path = cache_dir() / "thresholds" / f"{key}.npz"
        if path.exists():
            data = np.load(path)
            table = ThresholdTable(key, label, waveform, max_ma, data["threshold_ma"], data["block_ma"],
                                   [str(s) for s in data["initiation_site"]], data["cut_end"], kinds)
        else:
            table = self._compute(key, contacts, waveform, max_ma, kinds)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, threshold_ma=table.threshold_ma, block_ma=table.block_ma,
                     initiation_site=np.array(table.initiation_site), cut_end=table.cut_end)
        self._tables[key] = table
        return table

    def contact_potentials(self) -> np.ndarray:
        """The potential (mV) along every compartment per mA from each contact (columns, contact 1 first): by
        reciprocity also each contact's recording sensitivity (``therapy.ecap``)."""
        if self._phi is None:
            self._phi = self.cells.potentials(self._solve())[:, list(self.columns)]
        return self._phi

    def configuration_potentials(self, contacts: list[ContactState]) -> tuple[CellBatch, np.ndarray]:
        """Every cell packed, and the potential (mV) along every compartment per mA of a configuration
        (with a cathodic pulse the current leaves the cathodes)."""
        return self.cells.batch, self.contact_potentials() @ contact_weights(contacts)

    def _compute(self, key, contacts, waveform, max_ma, kinds) -> ThresholdTable:
        full, v_all = self.configuration_potentials(contacts)
        sel, batch = self.cells.subset(kinds)
        v = v_all if batch is full else np.concatenate([v_all[full.offsets[i]:full.offsets[i + 1]] for i in sel])
        res = find_thresholds(batch, v, waveform, self.quality.settings, rel_tol=self.quality.rel_tol, max_ma=max_ma)
        if res.exhausted.any():
            raise RuntimeError(f"lead {self.lead_index}, {self.posture.value}: the threshold search ran out of "
                               f"simulations for {int(res.exhausted.sum())} cells")
        thr = np.full(len(self.info), np.nan)
        block = np.full(len(self.info), np.inf)
        cut = np.zeros(len(self.info), dtype=bool)
        thr[sel], block[sel], cut[sel] = res.threshold_ma, res.block_ma, res.cut_end
        sites = ["not computed"] * len(self.info)
        for i, s in zip(sel, res.initiation_site):
            sites[i] = s
        return ThresholdTable(key, contacts_label(contacts), waveform, max_ma, thr, block, sites, cut, kinds)


def _seed(patient: Patient, system: System, lead: LeadPlan, base: int) -> int:
    """A site's population seed: from the anatomy, never the placement, so a lead placed elsewhere over the same
    ganglion or cord meets the same neurons."""
    text = f"{patient.anatomy_hash()}:{system.value}:{lead.level.value}:{lead.side.value}:{base}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


class TherapyModel:
    """The sites (lead x posture) of one patient's implant, built lazily."""

    def __init__(self, patient: Patient, implant: Implant, quality: Quality = QUALITY["standard"]):
        self.patient, self.implant, self.quality = patient, implant, quality
        self._sites: dict[tuple[int, Posture], Site] = {}
        self._cells: dict[str, CellSet] = {}

    @property
    def system(self) -> System:
        return self.implant.system

    def site(self, lead_index: int, posture: Posture | str) -> Site:
        posture = Posture(posture)
        if not 1 <= lead_index <= len(self.implant.leads):
            raise ValueError(f"lead={lead_index}; allowed: 1-{len(self.implant.leads)}")
        if (lead_index, posture) not in self._sites:
            lead = self.implant.leads[lead_index - 1]
            q = self.quality
            spec = system_spec(self.system)
            geometry = spec.field_params(self.patient, lead, posture)
            base = getattr(q, spec.population_quality)
            pop = base.model_copy(update={"seed": _seed(self.patient, self.system, lead, base.seed),
                                          **spec.population_update(lead)})
            n = get_lead(geometry.lead_id).n_contacts
            contact_set = spec.contact_set(posture)
            columns = tuple(range(contact_set * n, (contact_set + 1) * n))
            cells = CellSet(self.system, geometry.anatomy_only(), pop)
            cells = self._cells.setdefault(cells.key, cells)
            self._sites[(lead_index, posture)] = Site(self.system, lead_index, lead, posture,
                                                      FieldSpec(geometry=geometry, mesh=q.mesh), columns, cells, q)
        return self._sites[(lead_index, posture)]

    def solve_fields(self, progress=None, postures: tuple[Posture, ...] = tuple(Posture)) -> None:
        """Solve (or load from the cache) the field of every lead in each of ``postures`` (default all), the
        missing ones in parallel processes (``solve_many``)."""
        jobs = [(k, p) for p in postures for k in range(1, len(self.implant.leads) + 1)]
        label = f"{self.system.value.upper()} fields (lead x posture)"
        sites = [self.site(k, p) for k, p in jobs]
        solve_many({s.label: s.spec for s in sites},
                   progress=progress and (lambda done, total: progress(label, done, total)))
        for site in sites:
            site.impedance_matrix()

    def lead_waveform(self, settings: LeadSettings, impedance_ohm: float, n_pulses: int = 1) -> Waveform:
        return device_waveform(settings, self.implant.ipg(), impedance_ohm, n_pulses)
