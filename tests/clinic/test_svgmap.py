"""The SVG body map: one clickable element per atlas region, pain colours, paresthesia overlay, escaping, errors."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drgsim.anatomy.atlas import load_atlas, region_ids
from drgsim.clinic.svgmap import body_map_svg

NS = {"svg": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"
regions = st.sampled_from(region_ids())


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def region_elements(root: ET.Element) -> dict[str, ET.Element]:
    """Region elements by data-region; fails on a region drawn twice."""
    found: dict[str, ET.Element] = {}
    for el in root.iter():
        if "region" in el.get("class", "").split():
            rid = el.get("data-region")
            assert rid not in found, f"{rid} drawn twice"
            found[rid] = el
    return found


def overlays(root: ET.Element) -> dict[str, ET.Element]:
    return {el.get("data-region"): el for el in root.iter() if el.get("class") == "paresthesia"}


def luminance(colour: str) -> float:
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def fill_of(nrs: int, rid: str = "left_sole") -> str:
    return region_elements(parse(body_map_svg({rid: nrs})))[rid].get("fill")


def test_standalone_svg_with_both_views_and_the_outline():
    root = parse(body_map_svg())
    assert root.tag == f"{SVG}svg"
    x, y, w, h = map(float, root.get("viewBox").split())
    assert w > 0 and h > 0
    assert root.get("width") == "520" and int(root.get("height")) == round(520 * h / w)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "front" in texts and "back" in texts
    outline = root.find("svg:g[@class='outline']", NS)
    assert len(outline) == sum(len(polys) for polys in load_atlas().outline.values())


def test_every_region_appears_once_with_id_and_title():
    elements = region_elements(parse(body_map_svg()))
    assert sorted(elements) == sorted(region_ids())
    for region in load_atlas().regions:
        el = elements[region.id]
        assert el.get("id") == f"region-{region.id}"
        assert el.find(f"{SVG}title").text == f"{region.name}: NRS 0"
        assert el.get("class") == "region"


def test_views_sit_side_by_side_without_overlap_and_upright():
    """Front regions left of back regions; the sole (atlas y=0) is drawn below the waist line (SVG y down)."""
    elements = region_elements(parse(body_map_svg()))

    def xs_ys(rid):
        nums = [float(v) for v in elements[rid].get("d").replace("M", " ").replace("L", " ").replace("Z", " ").split()]
        return nums[0::2], nums[1::2]

    front = [x for r in load_atlas().regions if r.view == "front" for x in xs_ys(r.id)[0]]
    back = [x for r in load_atlas().regions if r.view == "back" for x in xs_ys(r.id)[0]]
    assert max(front) < min(back)
    assert min(xs_ys("left_sole")[1]) > max(xs_ys("left_lower_back")[1])
    # the patient's left is on the viewer's right in front, on the viewer's left in back
    assert min(xs_ys("left_shin")[0]) > max(xs_ys("right_shin")[0])
    assert max(xs_ys("left_calf")[0]) < min(xs_ys("right_calf")[0])


def test_pain_fill_differs_and_darkens_with_nrs():
    fills = [fill_of(n) for n in range(11)]
    assert len({fills[0], fills[5], fills[10]}) == 3
    lum = [luminance(f) for f in fills]
    assert all(a > b for a, b in zip(lum, lum[1:])), lum


def test_pain_regions_are_marked_and_outlined():
    elements = region_elements(parse(body_map_svg({"left_sole": 8, "left_heel": 0})))
    sole, heel = elements["left_sole"], elements["left_heel"]
    assert sole.get("class") == "region pain" and heel.get("class") == "region"
    assert sole.get("data-nrs") == "8"
    assert sole.find(f"{SVG}title").text == "sole of the foot, left: NRS 8"
    assert float(sole.get("stroke-width")) > float(heel.get("stroke-width"))
    assert luminance(sole.get("stroke")) < 0.2  # dark


@given(st.dictionaries(regions, st.floats(0, 1), max_size=10))
def test_overlay_only_for_positive_paresthesia(shares):
    root = parse(body_map_svg(paresthesia=shares))
    drawn = overlays(root)
    assert set(drawn) == {r for r, v in shares.items() if v > 0}
    for el in drawn.values():
        assert el.get("pointer-events") == "none"
    assert len(region_elements(root)) == len(region_ids())


@given(st.floats(0, 1), st.floats(0, 1))
def test_overlay_opacity_increases_with_share(a, b):
    a, b = sorted((a, b))
    if a == 0:
        return
    drawn = overlays(parse(body_map_svg(paresthesia={"left_sole": a, "left_heel": b})))
    op_a, op_b = (float(drawn[r].get("fill-opacity")) for r in ("left_sole", "left_heel"))
    assert 0 < op_a <= op_b <= 1
    if b - a > 0.01:
        assert op_a < op_b


def test_overlay_is_drawn_above_the_regions_and_titles_report_the_share():
    root = parse(body_map_svg({"left_sole": 8}, {"left_sole": 0.4}))
    order = [el.get("class") for el in root.iter() if el.get("data-region") == "left_sole"]
    assert order == ["region pain", "paresthesia"]
    sole = region_elements(root)["left_sole"]
    assert sole.find(f"{SVG}title").text == "sole of the foot, left: NRS 8, paresthesia 40%"
    assert region_elements(root)["left_heel"].find(f"{SVG}title").text.endswith("paresthesia 0%")


def test_legend_has_the_nrs_bar_and_the_paresthesia_swatch_only_when_given():
    plain = parse(body_map_svg({"left_sole": 3}))
    bar = [el for el in plain.iter() if el.get("class") == "legend-nrs"]
    assert [el.get("data-nrs") for el in bar] == [str(n) for n in range(11)]
    assert [el.get("fill") for el in bar] == [fill_of(n) for n in range(11)]
    assert not [el for el in plain.iter() if el.get("class") == "legend-paresthesia"]
    both = parse(body_map_svg({"left_sole": 3}, {"left_sole": 0.5}))
    assert [el for el in both.iter() if el.get("class") == "legend-paresthesia"]
    none_predicted = parse(body_map_svg({"left_sole": 3}, {}))
    assert [el for el in none_predicted.iter() if el.get("class") == "legend-paresthesia"]
    assert "predicted paresthesia" in [t.text for t in both.iter(f"{SVG}text")]


NASTY = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\"'<>&\n\t"), max_size=40)


@given(NASTY)
def test_region_attrs_are_escaped_and_round_trip(value):
    vals = json.dumps({"region": "x", "note": value})
    svg = body_map_svg(region_attrs=lambda rid: {"hx-post": f"/regions/{rid}?q=\"<a>&'", "hx-vals": vals,
                                                 "data-note": value}, title=value)
    elements = region_elements(parse(svg))
    for rid, el in elements.items():
        assert el.get("hx-post") == f"/regions/{rid}?q=\"<a>&'"
        assert json.loads(el.get("hx-vals")) == {"region": "x", "note": value}
        assert el.get("data-note") == value
        assert el.get("style") == "cursor:pointer"


def test_regions_without_extra_attributes_are_not_clickable():
    elements = region_elements(parse(body_map_svg(region_attrs=lambda rid: {"hx-get": "/x"} if rid == "left_sole"
                                                  else {})))
    assert elements["left_sole"].get("style") == "cursor:pointer"
    assert elements["left_heel"].get("style") is None
    assert elements["left_heel"].get("hx-get") is None


@pytest.mark.parametrize("attrs,fragment", [
    ({"onclick x": "1"}, "'onclick x' is not a valid XML name"),
    ({'a="1" b': "1"}, "is not a valid XML name"),
    ({"id": "mine"}, "'id' is set by the body map"),
    ({"hx-vals": "bell\x07"}, "control character"),
])
def test_bad_region_attrs_are_rejected(attrs, fragment):
    with pytest.raises(ValueError, match=fragment):
        body_map_svg(region_attrs=lambda rid: attrs)


@pytest.mark.parametrize("kwargs,fragments", [
    ({"pain": {"left_sol": 5}}, ["pain", "'left_sol'", "left_sole", "allowed"]),
    ({"paresthesia": {"rigth_heel": 0.5}}, ["paresthesia", "'rigth_heel'", "right_heel", "allowed"]),
    ({"pain": {"left_sole": 11}}, ["pain['left_sole'] = 11", "0 to 10"]),
    ({"pain": {"left_sole": -1}}, ["pain['left_sole'] = -1", "0 to 10"]),
    ({"pain": {"left_sole": 7.5}}, ["pain['left_sole'] = 7.5", "integers 0 to 10"]),
    ({"pain": {"left_sole": True}}, ["pain['left_sole'] = True", "integers 0 to 10"]),
    ({"pain": {"left_sole": "7"}}, ["pain['left_sole'] = '7'", "integers 0 to 10"]),
    ({"paresthesia": {"left_sole": 1.5}}, ["paresthesia['left_sole'] = 1.5", "0 to 1"]),
    ({"paresthesia": {"left_sole": -0.1}}, ["paresthesia['left_sole'] = -0.1", "0 to 1"]),
    ({"paresthesia": {"left_sole": math.nan}}, ["paresthesia['left_sole'] = nan", "0 to 1", "NaN"]),
    ({"paresthesia": {"left_sole": "0.5"}}, ["paresthesia['left_sole'] = '0.5'", "0 to 1"]),
    ({"width_px": 0}, ["width_px = 0", "positive"]),
    ({"title": "a\x00b"}, ["title = 'a\\x00b'", "control character"]),
])
def test_bad_input_names_field_value_and_range(kwargs, fragments):
    with pytest.raises(ValueError) as info:
        body_map_svg(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(lambda s: s not in region_ids()),
       st.sampled_from(["pain", "paresthesia"]))
def test_any_unknown_region_is_named(name, field):
    value = {"pain": 3, "paresthesia": 0.3}[field]
    with pytest.raises(ValueError, match=f"{field}: unknown body region '{name}'"):
        body_map_svg(**{field: {name: value}})


@given(st.dictionaries(regions, st.integers(0, 10), max_size=8), st.dictionaries(regions, st.floats(0, 1), max_size=8))
def test_output_is_deterministic(pain, shares):
    first = body_map_svg(pain, shares, title="t")
    assert body_map_svg(dict(reversed(list(pain.items()))), dict(shares), title="t") == first
    parse(first)


def test_reported_regions_are_a_green_layer_with_a_legend_and_prefixed_ids():
    root = parse(body_map_svg({"left_sole": 6}, {"left_sole": 0.5}, reported=["left_heel", "left_heel", "left_calf"],
                              id_prefix="m-"))
    layer = root.find(".//svg:g[@class='reported-layer']", NS)
    assert sorted(p.get("data-region") for p in layer) == ["left_calf", "left_heel"]
    assert layer.get("pointer-events") == "none" and layer.get("fill") != root.find(
        ".//svg:g[@class='paresthesia-layer']", NS).get("fill")
    assert root.find(".//svg:rect[@class='legend-reported']", NS) is not None
    assert root.find(".//svg:path[@id='m-left_sole']", NS) is not None
    assert parse(body_map_svg()).find(".//svg:rect[@class='legend-reported']", NS) is None
    with pytest.raises(ValueError, match="reported: unknown body region 'left_foot'"):
        body_map_svg(reported=["left_foot"])
    with pytest.raises(ValueError, match="id_prefix = '1x'"):
        body_map_svg(id_prefix="1x")
