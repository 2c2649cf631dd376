"""The body atlas against the textbook dermatome table."""

from __future__ import annotations

import pytest

from drgsim.anatomy.atlas import UnknownRegionError, get_region, load_atlas, region_ids, regions_of_level
from drgsim.anatomy.levels import Level, Side

# Required regions (issue #4) and the reference table's level for each, where it gives one.
REQUIRED = ["groin", "hip", "buttock", "thigh_anterior", "thigh_posterior", "knee_anterior", "knee_posterior", "shin",
            "calf", "ankle_medial", "ankle_lateral", "foot_dorsum", "great_toe", "sole", "heel", "foot_lateral",
            "perineum", "lower_back"]
REFERENCE_PRIMARY = {"groin": "L1", "knee_anterior": "L3", "ankle_medial": "L4", "foot_dorsum": "L5",
                     "great_toe": "L5", "sole": "S1", "heel": "S1", "foot_lateral": "S1", "perineum": "S2"}


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("part", REQUIRED)
def test_every_required_region_exists_on_both_sides(part, side):
    region = get_region(f"{side}_{part}")
    assert region.side == side and region.part == part
    assert region.view in ("front", "back")


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("part,level", sorted(REFERENCE_PRIMARY.items()))
def test_primary_dermatome_matches_reference(part, level, side):
    assert get_region(f"{side}_{part}").primary_dermatome == level


def test_groin_spans_t12_to_l2():
    assert set(get_region("left_groin").dermatomes) == {"T12", "L1", "L2"}


def test_anterior_thigh_and_hip_are_l2_l3():
    for part in ("thigh_anterior", "hip"):
        assert set(get_region(f"right_{part}").dermatomes) == {"L2", "L3"}


def test_perineum_is_s2_to_s4():
    assert set(get_region("left_perineum").dermatomes) == {"S2", "S3", "S4"}


def test_weights_sum_to_one_and_sources_are_given():
    for region in load_atlas().regions:
        assert sum(region.dermatomes.values()) == pytest.approx(1.0)
        assert region.source.strip()


def test_left_and_right_mirror_each_other():
    """Same dermatomes both sides; polygons mirrored about the midline within each view."""
    for part in REQUIRED:
        left, right = get_region(f"left_{part}"), get_region(f"right_{part}")
        assert left.dermatomes == right.dermatomes and left.view == right.view
        assert [(-x, y) for x, y in left.polygon] == right.polygon


def test_front_view_puts_the_patients_left_on_the_viewers_right():
    assert all(x >= 0 for x, _ in get_region("left_knee_anterior").polygon)
    assert all(x <= 0 for x, _ in get_region("left_calf").polygon)


def test_reverse_lookup_from_level_to_regions():
    s1 = [r.id for r in regions_of_level(Level.S1, Side.LEFT)]
    assert s1[0] == "left_foot_lateral"  # largest S1 weight
    assert {"left_sole", "left_heel"} <= set(s1) and all(i.startswith("left_") for i in s1)
    assert "left_knee_anterior" in [r.id for r in regions_of_level("L3")]


def test_unknown_region_lists_close_matches():
    with pytest.raises(UnknownRegionError) as info:
        get_region("left_sol")
    assert "left_sole" in info.value.matches
    assert "left_sol" in str(info.value) and "left_sole" in str(info.value)


def test_every_group_has_evidence_and_the_outline_covers_both_views():
    atlas = load_atlas()
    assert {r.group for r in atlas.regions} <= set(atlas.evidence)
    assert set(atlas.outline) == {"front", "back"}
    assert len(region_ids()) == len(set(region_ids()))
