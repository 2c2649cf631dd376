"""Pain maps: validation with readable errors, and the command-line form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drgsim.anatomy.atlas import region_ids
from drgsim.anatomy.painmap import PainMap, PainMapError, pain_map, parse_pain

regions = st.sampled_from(region_ids())
valid_maps = st.dictionaries(regions, st.integers(0, 10), min_size=1, max_size=8)
not_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
    lambda s: s not in region_ids())


@given(valid_maps)
def test_valid_maps_round_trip_through_the_command_line_form(nrs):
    pm = pain_map(nrs)
    assert parse_pain(pm.to_text()) == pm
    assert PainMap.model_validate_json(pm.model_dump_json()) == pm


@given(regions, st.one_of(st.integers(max_value=-1), st.integers(min_value=11)))
def test_out_of_range_intensity_names_region_value_and_range(region, value):
    with pytest.raises(PainMapError) as info:
        parse_pain(f"{region}:{value}")
    msg = str(info.value)
    assert region in msg and str(value) in msg and "0 to 10" in msg


@given(not_ids, st.integers(0, 10))
def test_unknown_region_is_named(name, value):
    with pytest.raises(PainMapError) as info:
        parse_pain(f"{name}:{value}")
    assert f"unknown body region {name!r}" in str(info.value)


@pytest.mark.parametrize("typo,match", [("left_sol", "left_sole"), ("rigth_heel", "right_heel"),
                                         ("left_knee_anterio", "left_knee_anterior")])
def test_typos_suggest_the_intended_region(typo, match):
    with pytest.raises(PainMapError, match=match):
        parse_pain(f"{typo}:5")


@pytest.mark.parametrize("text,fragment", [
    ("left_sole", "is not region:NRS"),
    ("left_sole:", "is not region:NRS"),
    ("left_sole:7.5", "intensity '7.5' for left_sole"),
    ("left_sole:x", "intensity 'x' for left_sole"),
    ("left_sole:3,left_sole:4", "given twice"),
    ("", "at least one region"),
])
def test_malformed_input(text, fragment):
    with pytest.raises(PainMapError, match=fragment):
        parse_pain(text)


def test_every_error_is_reported_at_once():
    with pytest.raises(PainMapError) as info:
        parse_pain("lft_sole:3,left_heel:12")
    assert "lft_sole" in str(info.value) and "12" in str(info.value)


def test_spaces_are_allowed():
    assert parse_pain(" left_sole : 8 , left_heel:7 ").nrs == {"left_sole": 8, "left_heel": 7}
