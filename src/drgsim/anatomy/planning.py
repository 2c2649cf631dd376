"""Planning: from a pain map to ranked DRG targets (level and side), with the reasons.

A DRG at level X relays dermatome X, so a target's score is the share of the pain it carries:
the sum over painful regions on its side of NRS x dermatome weight, divided by the total NRS
(weights of a region sum to 1, so the scores of all targets plus the pain in unmodelled
dermatomes add up to 1). Targets are ranked by score (ties: the more cranial level, then left);
the recommendation takes them in order until ``coverage_goal`` of the pain is carried or
``max_leads`` is reached: one DRG lead per ganglion and up to 4 leads per IPG (FDA PMA P150004;
NCT01923285); about 3 leads per patient in practice (756 leads / 249 patients, Chapman 2021).
Clinical series for the body parts in pain (atlas evidence) are attached as reasons.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from drgsim.anatomy.atlas import get_region, load_atlas
from drgsim.anatomy.levels import DERMATOMES, Level, Side
from drgsim.anatomy.painmap import PainMap, PainMapError

MAX_LEADS = 4  # leads per DRG IPG (Abbott Proclaim DRG, FDA PMA P150004; NCT01923285)
COVERAGE_GOAL = 0.8  # share of the NRS-weighted pain the recommended leads should carry (project default)
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Contribution(BaseModel):
    """What one painful region adds to a target's score."""

    model_config = _FROZEN

    region: str
    nrs: int
    weight: float
    share: float  # nrs * weight / total NRS


class Target(BaseModel):
    """A candidate ganglion: its share of the pain, the regions it carries and why it ranks where it does."""

    model_config = _FROZEN

    rank: int
    level: Level
    side: Side
    score: float = Field(ge=0, le=1)
    regions: list[str]
    contributions: list[Contribution]
    reasons: list[str]


class TargetRef(BaseModel):
    model_config = _FROZEN

    level: Level
    side: Side


class Plan(BaseModel):
    """Ranked targets, the recommended set and the plan-level reasons."""

    model_config = _FROZEN

    pain: dict[str, int]
    targets: list[Target]
    recommended: list[TargetRef]
    coverage: float = Field(ge=0, le=1)
    uncovered: dict[str, float]  # dermatome outside T10-S2 -> share of the pain
    max_leads: int
    coverage_goal: float
    reasons: list[str]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def plan_targets(pain: PainMap, max_leads: int = MAX_LEADS, coverage_goal: float = COVERAGE_GOAL) -> Plan:
    """Rank DRG targets for a pain map and recommend up to ``max_leads`` of them."""
    if not 1 <= max_leads <= MAX_LEADS:
        raise ValueError(f"max_leads={max_leads}: allowed 1 to {MAX_LEADS} (leads per DRG IPG)")
    if not 0 < coverage_goal <= 1:
        raise ValueError(f"coverage_goal={coverage_goal}: allowed > 0 and <= 1")
    total = pain.total_nrs
    if total == 0:
        raise PainMapError("every region has NRS 0: nothing to plan (give at least one region with NRS > 0)")
    atlas = load_atlas()
    contributions: dict[tuple[Level, Side], list[Contribution]] = {}
    uncovered: dict[str, float] = {}
    for region_id, nrs in pain.nrs.items():
        if nrs == 0:
            continue
        region = get_region(region_id)
        for derm, weight in region.dermatomes.items():
            share = nrs * weight / total
            if derm in Level.__members__:
                contributions.setdefault((Level(derm), region.side), []).append(
                    Contribution(region=region_id, nrs=nrs, weight=weight, share=round(share, 6)))
            else:
                uncovered[derm] = round(uncovered.get(derm, 0.0) + share, 6)
    ranked = sorted(contributions.items(),
                    key=lambda kv: (-sum(c.share for c in kv[1]), kv[0][0].index, kv[0][1] != Side.LEFT))
    targets = []
    for rank, ((level, side), contribs) in enumerate(ranked, start=1):
        contribs = sorted(contribs, key=lambda c: -c.share)
        score = round(sum(c.share for c in contribs), 6)
        carried = ", ".join(f"{c.region} (NRS {c.nrs} x {level} weight {c.weight:.2f})" for c in contribs)
        reasons = [f"carries {_pct(score)} of the NRS-weighted pain: {carried}"]
        for group in sorted({get_region(c.region).group for c in contribs}):
            evidence = atlas.evidence[group]
            if level in evidence.levels:
                reasons.append(f"{level} is among the levels of the {group} series: {evidence.text}")
        targets.append(Target(rank=rank, level=level, side=side, score=min(score, 1.0),
                              regions=[c.region for c in contribs], contributions=contribs, reasons=reasons))

    recommended, coverage = [], 0.0
    for t in targets:
        if len(recommended) == max_leads or coverage >= coverage_goal - 1e-9:
            break
        recommended.append(TargetRef(level=t.level, side=t.side))
        coverage += t.score
    names = ", ".join(f"{r.side} {r.level}" for r in recommended)
    reasons = [f"recommended {len(recommended)} lead(s) ({names}) carry {_pct(coverage)} of the pain "
               f"(goal {_pct(coverage_goal)}, at most {max_leads} leads: one lead per ganglion, up to 4 per IPG; "
               "about 3 leads per patient in practice, Chapman 2021)"]
    if coverage < coverage_goal - 1e-9:
        reasons.append(f"the goal of {_pct(coverage_goal)} is not reached with the modelled ganglia and "
                       f"{max_leads} lead(s)")
    if uncovered:
        ordered = sorted(uncovered.items(), key=lambda kv: DERMATOMES.index(kv[0]))
        parts = ", ".join(f"{d} {_pct(s)}" for d, s in ordered)
        reasons.append(f"pain in dermatomes outside the modelled DRG levels T10-S2 cannot be targeted: {parts}")
    sides = {get_region(r).side for r, n in pain.nrs.items() if n > 0}
    if len(sides) == 2:
        reasons.append("pain on both sides: ganglia on the left and on the right share the lead budget")
    groups = sorted({get_region(r).group for r, n in pain.nrs.items() if n > 0})
    reasons += [f"clinical series, {g}: {atlas.evidence[g].text}" for g in groups]
    return Plan(pain=dict(pain.nrs), targets=targets, recommended=recommended, coverage=min(round(coverage, 6), 1.0),
                uncovered=uncovered, max_leads=max_leads, coverage_goal=coverage_goal, reasons=reasons)
