"""One fibre or neuron against one source: the configuration and result behind ``drgsim threshold``."""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim import __version__
from drgsim.devices.leads import lead_catalog
from drgsim.devices.waveform import Polarity, Shape, Waveform
from drgsim.fields.solve import MeshSettings
from drgsim.neurons import models
from drgsim.neurons.morphology import Morphology
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds
from drgsim.neurons.stimulus import point_source_potentials


class ThresholdConfig(BaseModel):
    """Threshold of one cell ``distance_mm`` from a source, in a homogeneous medium.

    ``model`` names a registered cell model (``drgsim.neurons.models``); ``diameter_um`` and ``nodes`` (its
    nodes or compartments) default to the model's. ``point``: a point source beside the cell's centre (the
    model's ``centre``: the middle node of a fibre, the T-junction of a DRG neuron, on the side away from
    the soma). ``lead``: the FEM solution of catalog lead ``lead`` (unit current from contact ``contact``,
    numbered from 1 at the tip, to the distant return); the cell runs parallel to the lead, ``distance_mm``
    from its axis, centred on that contact.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "mrg"
    diameter_um: float | None = None
    nodes: int | None = Field(None, ge=3, le=20_001)
    distance_mm: float = Field(1.0, gt=0.0, le=50.0)
    resistivity_ohm_cm: float = Field(500.0, gt=1.0, le=100_000.0)
    waveform: Waveform = Waveform()
    settings: SimulationSettings = SimulationSettings()
    tolerance: float = Field(0.01, gt=0.0, lt=0.5)
    max_ma: float | None = Field(None, gt=0.0, le=1000.0, description="ceiling of the search (default: far above "
                                 "the start)")
    source: Literal["point", "lead"] = "point"
    lead: str = "drg"
    contact: int = Field(1, ge=1)
    field_mesh: MeshSettings = MeshSettings()

    @model_validator(mode="after")
    def _model_ranges(self):
        if self.source == "lead":
            lead = lead_catalog().get(self.lead)
            if lead is None:
                raise ValueError(f"lead={self.lead!r} is not in the catalog; "
                                 f"allowed: {', '.join(sorted(lead_catalog()))}")
            if self.contact > lead.n_contacts:
                raise ValueError(f"contact={self.contact} outside 1-{lead.n_contacts} for lead {self.lead}")
            if self.distance_mm <= lead.contact_diameter_mm / 2 + 0.05:
                raise ValueError(f"distance_mm={self.distance_mm} must exceed the lead radius "
                                 f"({lead.contact_diameter_mm / 2} mm) by at least 0.05 mm")
        spec = models.get(self.model)
        rng = spec.diameter_range_um
        if self.diameter_um is not None:
            if rng is None:
                raise ValueError(f"diameter_um: {self.model} has fixed branch diameters; omit --diameter-um")
            if not rng[0] <= self.diameter_um <= rng[1]:
                raise ValueError(f"diameter_um={self.diameter_um} outside {rng[0]}-{rng[1]} um for {self.model}")
        if self.nodes is not None and spec.length_keyword is None:
            raise ValueError(f"nodes: {self.model} has a fixed morphology; omit --nodes")
        if self.nodes is not None and spec.odd_length and self.nodes % 2 == 0:
            raise ValueError(f"nodes={self.nodes} must be odd so that a node sits at the centre")
        return self

    def cell(self) -> tuple[Morphology, np.ndarray]:
        """The cell and the point its source stands over (before the perpendicular offset)."""
        spec = models.get(self.model)
        cell = spec.cell(self.diameter_um, self.nodes)
        return cell, cell.position_mm[spec.centre(cell)]


class NoThreshold(RuntimeError):
    """The cell did not fire anywhere in the amplitudes tried."""


class ThresholdReport(BaseModel):
    """One cell's threshold as ``drgsim threshold`` reports it (JSON), with its configuration and drgsim's
    version; ``solver.ThresholdResult`` holds a batch's per-cell arrays behind it."""

    threshold_ma: float
    block_ma: float | None = Field(description="upper edge of the first firing window; None: fires up to the ceiling")
    anode_break: bool = Field(description="the decisive spike started where the pulse hyperpolarized the membrane")
    start_ma: float
    ceiling_ma: float
    polarity: Polarity
    waveform: Shape
    initiation_site: str
    n_simulations: int
    dt_us: float
    tstop_ms: float
    seconds: float
    n_compartments: int
    config: ThresholdConfig
    drgsim_version: str = __version__


def lead_field(cfg: ThresholdConfig):
    """The lead in a homogeneous sphere, contact ``cfg.contact`` centred at the origin, axis along z."""
    from drgsim.fields.geometry import HomogeneousParams
    from drgsim.fields.lead import LeadPlacement
    from drgsim.fields.solve import FieldSpec, solve

    centre = LeadPlacement(lead_id=cfg.lead).contact_centres_mm()[cfg.contact - 1, 2]
    placement = LeadPlacement(lead_id=cfg.lead, tip_mm=(0.0, 0.0, -float(centre)), body_length_mm=60.0)
    return solve(FieldSpec(geometry=HomogeneousParams(lead=placement, resistivity_ohm_cm=cfg.resistivity_ohm_cm,
                                                      radius_mm=150.0), mesh=cfg.field_mesh))


def run(cfg: ThresholdConfig) -> ThresholdReport:
    t0 = time.perf_counter()
    cell, centre = cfg.cell()
    if cfg.source == "lead":
        cell = cell.with_positions(cell.position_mm - centre + np.array([cfg.distance_mm, 0.0, 0.0]))
        batch = CellBatch.pack([cell], cfg.settings.settle_ms, cfg.settings.settle_dt_ms)
        v = lead_field(cfg).potentials(batch.positions_mm)[:, cfg.contact - 1]
    else:
        offset = np.array(models.get(cfg.model).source_direction)
        batch = CellBatch.pack([cell], cfg.settings.settle_ms, cfg.settings.settle_dt_ms)
        v = point_source_potentials(batch.positions_mm, centre + cfg.distance_mm * offset, cfg.resistivity_ohm_cm)
    res = find_thresholds(batch, v, cfg.waveform, cfg.settings, rel_tol=cfg.tolerance, max_ma=cfg.max_ma)
    thr = float(res.threshold_ma[0])
    if not np.isfinite(thr):
        lo, hi = res.start_ma[0], res.ceiling_ma[0]
        tried = f"at the ceiling of {hi:.4g} mA" if not lo < hi else f"between {lo:.4g} and {hi:.4g} mA"
        why = "ran out of simulations" if res.exhausted[0] else "did not fire"
        raise NoThreshold(f"{cell.name} {cfg.distance_mm} mm from the {cfg.source} source {why} {tried} "
                          f"({int(res.n_simulations[0])} simulations)")
    tstop = cfg.settings.tstop_ms or cfg.waveform.duration_ms() + cell.propagation_ms
    block = float(res.block_ma[0])
    return ThresholdReport(threshold_ma=thr, block_ma=block if np.isfinite(block) else None,
                           anode_break=bool(res.anode_break[0]), start_ma=float(res.start_ma[0]),
                           ceiling_ma=float(res.ceiling_ma[0]), polarity=cfg.waveform.polarity,
                           waveform=cfg.waveform.shape, initiation_site=res.initiation_site[0],
                           n_simulations=int(res.n_simulations[0]), dt_us=cfg.settings.dt_us, tstop_ms=tstop,
                           seconds=time.perf_counter() - t0, n_compartments=cell.n, config=cfg)
