"""Pain map: body regions with a pain intensity on the 0-10 numeric rating scale (NRS).

The NRS is an 11-point integer scale (pain is measured by VAS 0-100 mm or NRS 0-10; Farrar et al. 2001, Pain 94:149), so
intensities are integers 0-10. Every region must be in the body atlas; an unknown region is
reported with its close matches. ``parse_pain`` reads the command-line form ``left_sole:8,left_heel:7``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from drgsim.anatomy.atlas import get_region
from drgsim.errors import FieldProblem, field_problems

NRS_MAX = 10


def _known_region(region_id: str) -> str:
    get_region(region_id)
    return region_id


RegionId = Annotated[str, AfterValidator(_known_region)]
Nrs = Annotated[int, Field(ge=0, le=NRS_MAX)]


class PainMapError(ValueError):
    """Invalid pain-map input; the message names the region or item, the value and what is allowed."""


class PainMap(BaseModel):
    """Pain intensity (NRS 0-10) per atlas region."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nrs: dict[RegionId, Nrs] = Field(min_length=1)

    @property
    def total_nrs(self) -> int:
        return sum(self.nrs.values())

    def to_text(self) -> str:
        """The command-line form, ``region:nrs`` joined by commas."""
        return ",".join(f"{k}:{v}" for k, v in self.nrs.items())


def _clause(p: FieldProblem) -> str:
    """A problem of the ``nrs`` mapping, named by region."""
    path = p.field.split(".")
    if path[-1] == "[key]":
        return p.constraint
    if len(path) == 2:
        return f"intensity {p.value!r} for {path[1]}: {p.constraint} (allowed: integers 0 to {NRS_MAX}, the NRS)"
    return "no region given: a pain map needs at least one region:NRS (e.g. left_sole:8)"


def pain_map(nrs: dict[str, int]) -> PainMap:
    """A validated pain map; ``PainMapError`` with a readable message otherwise."""
    try:
        return PainMap(nrs=nrs)
    except ValidationError as err:
        raise PainMapError("; ".join(_clause(p) for p in field_problems(err))) from None


def parse_pain(text: str) -> PainMap:
    """Parse ``region:nrs,region:nrs`` (spaces allowed) into a validated pain map."""
    nrs: dict[str, int | str] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        region, sep, value = (s.strip() for s in item.partition(":"))
        if not sep or not region or not value:
            raise PainMapError(f"item {item!r} is not region:NRS (e.g. left_sole:8)")
        if region in nrs:
            raise PainMapError(f"region {region!r} is given twice")
        nrs[region] = value
    return pain_map(nrs)
