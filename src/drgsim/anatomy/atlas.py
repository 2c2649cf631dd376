"""Body atlas: named skin regions of the lower body and the dermatomes (DRG levels) that carry them.

Each region (``left_knee_anterior``, ``right_sole``, ...) has a side, a view (front or back), a
group used for clinical evidence (foot, knee, groin, pelvis, back, leg), dermatome weights that
sum to 1, a source, and a schematic polygon for the body map. The data, with sources, is
``drgsim/data/atlas.json``: textbook dermatome maps (the 2019 consensus, Deer et al., Neuromodulation 22:1,
should replace them)
(groin L1 with T12-L2, knee L3, medial leg and ankle L4, dorsum and great toe L5, lateral foot,
heel and sole S1, perineum S2-S4).
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drgsim.anatomy._data import load_json
from drgsim.anatomy.levels import DERMATOMES, Level, Side, as_level

View = Literal["front", "back"]
Point = tuple[float, float]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Region(BaseModel):
    """One named skin region on one side."""

    model_config = _FROZEN

    id: str
    name: str
    side: Side
    view: View
    group: str
    dermatomes: dict[str, float]
    source: str
    polygon: list[Point] = Field(min_length=3)

    @field_validator("dermatomes")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(DERMATOMES))
        if unknown:
            raise ValueError(f"unknown dermatomes {unknown}")
        if any(w <= 0 for w in v.values()) or abs(sum(v.values()) - 1) > 1e-9:
            raise ValueError(f"dermatome weights must be positive and sum to 1, got {v}")
        return v

    @model_validator(mode="after")
    def _id_names_side(self):
        if not self.id.startswith(f"{self.side}_"):
            raise ValueError(f"region id {self.id!r} must start with its side {self.side!r}")
        return self

    @property
    def part(self) -> str:
        """The region's name without its side, e.g. ``knee_anterior``."""
        return self.id.removeprefix(f"{self.side}_")

    @property
    def primary_dermatome(self) -> str:
        """The dermatome with the largest weight (the more cranial one on a tie)."""
        return max(self.dermatomes, key=lambda d: (self.dermatomes[d], -DERMATOMES.index(d)))

    def weight(self, level: Level | str) -> float:
        """Share of this region carried by the DRG at ``level`` (0 if none)."""
        return self.dermatomes.get(str(as_level(level)), 0.0)


class Evidence(BaseModel):
    """A clinical series for a body-part group, and the DRG levels it used (empty: not reported)."""

    model_config = _FROZEN

    text: str
    levels: list[Level]


class Atlas(BaseModel):
    model_config = _FROZEN

    description: str
    coordinates: str
    sources: dict[str, str]
    evidence: dict[str, Evidence]
    outline: dict[View, list[list[Point]]]
    regions: list[Region]

    @model_validator(mode="after")
    def _consistent(self):
        ids = [r.id for r in self.regions]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate region ids")
        missing = {r.group for r in self.regions} - set(self.evidence)
        if missing:
            raise ValueError(f"groups without evidence entries: {sorted(missing)}")
        return self


class UnknownRegionError(ValueError):
    """A region id that is not in the atlas; carries the close matches for a correction."""

    def __init__(self, region_id: str, matches: list[str]):
        self.region_id, self.matches = region_id, matches
        near = f"close matches: {', '.join(matches)}" if matches else "no close match"
        super().__init__(f"unknown body region {region_id!r}; {near} "
                         f"(allowed: the {len(load_atlas().regions)} ids of `drgsim atlas list`)")


@lru_cache(maxsize=1)
def load_atlas() -> Atlas:
    """The packaged body atlas."""
    return Atlas.model_validate(load_json("atlas.json"))


@lru_cache(maxsize=1)
def _by_id() -> dict[str, Region]:
    return {r.id: r for r in load_atlas().regions}


def region_ids() -> list[str]:
    """All region ids, in atlas order."""
    return list(_by_id())


def close_matches(name: str, n: int = 4) -> list[str]:
    """Region ids that look like ``name`` (difflib), best first."""
    return difflib.get_close_matches(name, region_ids(), n=n, cutoff=0.6)


def get_region(region_id: str) -> Region:
    """The region with this id; ``UnknownRegionError`` lists close matches otherwise."""
    try:
        return _by_id()[region_id]
    except KeyError:
        raise UnknownRegionError(region_id, close_matches(region_id)) from None


def regions_of_level(level: Level | str, side: Side | str | None = None) -> list[Region]:
    """Regions that the DRG at ``level`` carries (any weight), optionally on one side, largest weight first."""
    level = as_level(level)
    found = [r for r in load_atlas().regions if r.weight(level) > 0 and (side is None or r.side == Side(side))]
    return sorted(found, key=lambda r: -r.weight(level))
