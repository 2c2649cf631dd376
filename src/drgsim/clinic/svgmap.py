"""Body map as inline SVG: the atlas regions coloured by pain (NRS), with predicted paresthesia on top.

The web clinic needs a body map it can put straight into an HTML page and make clickable (HTMX
attributes on each region), without running matplotlib per request. This module writes that map as
one standalone ``<svg>`` string, the same picture as ``drgsim.anatomy.bodymap`` draws as PNG.

Source of every shape: the body atlas, ``drgsim/data/atlas.json`` (``drgsim.anatomy.atlas``): its
body outline per view and its region polygons. Atlas units have y up (waist at y=100, sole at y=0);
SVG has y down, so y is flipped here. The front view is drawn on the left and the back view
``BACK_VIEW_SHIFT`` units to its right, as in the PNG map. Output is deterministic: same input, same string.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from drgsim.anatomy.atlas import UnknownRegionError, close_matches, get_region, load_atlas
from drgsim.anatomy.bodymap import BACK_VIEW_SHIFT
from drgsim.anatomy.painmap import NRS_MAX

MARGIN = 4.0  # atlas units around the drawing
NO_PAIN_FILL = "#f4f4f4"
PARESTHESIA_FILL = "#1f5fd0"
REPORTED_FILL = "#1a9850"  # where the patient reports feeling stimulation (the mapping log), beside the prediction
# NRS 1..10 run along these stops (ColorBrewer YlOrRd without its palest stop, so NRS 1 is darker than NRS 0).
_PAIN_STOPS = ["#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"]
_ATTR_NAME = re.compile(r"^[A-Za-z_][-A-Za-z0-9_.:]*$")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")  # not allowed in XML 1.0
# Attributes this module sets on a region element; region_attrs may not set them again.
_OWN_ATTRS = {"id", "class", "d", "fill", "stroke", "stroke-width", "stroke-linejoin", "style", "data-region",
              "data-nrs"}


def pain_fill(nrs: int) -> str:
    """Fill colour for an NRS value: light grey for 0, light yellow (1) to dark red (10)."""
    if nrs <= 0:
        return NO_PAIN_FILL
    t = (min(nrs, NRS_MAX) - 1) / (NRS_MAX - 1) * (len(_PAIN_STOPS) - 1)
    i = min(int(t), len(_PAIN_STOPS) - 2)
    a, b = _rgb(_PAIN_STOPS[i]), _rgb(_PAIN_STOPS[i + 1])
    return "#" + "".join(f"{round(x + (t - i) * (y - x)):02x}" for x, y in zip(a, b))


def paresthesia_opacity(share: float) -> float:
    """Fill opacity of the paresthesia overlay for a covered share in (0, 1]."""
    return round(0.15 + 0.6 * share, 3)


def body_map_svg(pain: Mapping[str, int] | None = None,
                 paresthesia: Mapping[str, float] | None = None,
                 *, reported: Iterable[str] | None = None,
                 region_attrs: Callable[[str], Mapping[str, str]] | None = None,
                 title: str | None = None, width_px: int = 520, id_prefix: str = "region-") -> str:
    """The body map as one ``<svg>`` string.

    ``pain``: NRS 0-10 per region id (absent: 0). ``paresthesia``: share 0-1 of each region covered by
    predicted paresthesia, drawn as a blue overlay that lets clicks through. ``reported``: region ids where the
    patient feels stimulation, filled and dash-outlined in green (a layer of its own, legend entry included).
    ``region_attrs(id)``: extra
    attributes for a region's element (e.g. ``hx-post``); a region with any is drawn clickable. ``id_prefix``:
    the start of each region element's id, so two maps on one page keep their ids unique.
    Invalid input raises ``ValueError`` naming the field, region, value and allowed range.
    """
    pain = _checked_pain(pain or {})
    shares = _checked_paresthesia(paresthesia) if paresthesia is not None else None
    felt = sorted(set(reported)) if reported is not None else None
    for rid in felt or []:
        _known("reported", rid)
    if title is not None and _NOT_XML.search(title):
        raise ValueError(f"title = {title!r}: has a control character XML cannot hold")
    if not _ATTR_NAME.match(id_prefix):
        raise ValueError(f"id_prefix = {id_prefix!r}: must start an XML name (a letter or _, then letters, digits, "
                         f"-, _, ., :)")
    if isinstance(width_px, bool) or not isinstance(width_px, int) or width_px <= 0:
        raise ValueError(f"width_px = {width_px!r}: must be a positive integer (pixels)")

    atlas = load_atlas()
    shift = {"front": 0.0, "back": BACK_VIEW_SHIFT}
    pts = [p for view, polys in atlas.outline.items() for poly in polys for p in _placed(poly, shift[view])]
    pts += [p for r in atlas.regions for p in _placed(r.polygon, shift[r.view])]
    x0, x1 = min(p[0] for p in pts) - MARGIN, max(p[0] for p in pts) + MARGIN
    label_y = min(p[1] for p in pts) - 3.0
    y0 = label_y - (10.0 if title else 5.0)
    legend_y = max(p[1] for p in pts) + 4.0
    y1 = legend_y + 10.0
    w, h = x1 - x0, y1 - y0
    height_px = round(width_px * h / w)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="drgsim-bodymap" width="{width_px}" '
           f'height="{height_px}" viewBox="{_n(x0)} {_n(y0)} {_n(w)} {_n(h)}" role="img" '
           f'font-family="sans-serif">',
           f"<title>{escape(title or 'body map: pain (NRS) per region')}</title>",
           "<style>.drgsim-bodymap .region:hover{stroke:#000;stroke-width:0.9}</style>"]
    if title:
        out.append(f'<text x="{_n((x0 + x1) / 2)}" y="{_n(label_y - 6)}" text-anchor="middle" '
                   f'font-size="3.2">{escape(title)}</text>')
    out.append('<g class="outline" fill="#ffffff" stroke="#333333" stroke-width="0.5">')
    out += [f'<path d="{_path(_placed(poly, shift[view]))}"/>' for view, polys in atlas.outline.items()
            for poly in polys]
    out.append("</g>")

    out.append('<g class="regions" stroke-linejoin="round">')
    for r in atlas.regions:
        nrs = pain.get(r.id, 0)
        attrs = {"id": f"{id_prefix}{r.id}", "class": "region pain" if nrs else "region", "data-region": r.id,
                 "data-nrs": str(nrs), "d": _path(_placed(r.polygon, shift[r.view])), "fill": pain_fill(nrs),
                 "stroke": "#2b1a12" if nrs else "#9a9a9a", "stroke-width": "0.7" if nrs else "0.3"}
        extra = _checked_attrs(r.id, region_attrs(r.id)) if region_attrs else {}
        if extra:
            attrs["style"] = "cursor:pointer"
        attrs.update(extra)
        hover = f"{r.name}: NRS {nrs}"
        if shares is not None:
            hover += f", paresthesia {round(100 * shares.get(r.id, 0.0))}%"
        out.append(f"<path{_attrs(attrs)}><title>{escape(hover)}</title></path>")
    out.append("</g>")

    if shares:
        out.append(f'<g class="paresthesia-layer" fill="{PARESTHESIA_FILL}" stroke="none" pointer-events="none">')
        for r in atlas.regions:
            v = shares.get(r.id, 0.0)
            if v > 0:
                out.append(f'<path class="paresthesia" data-region="{r.id}" pointer-events="none" '
                           f'fill-opacity="{paresthesia_opacity(v):g}" '
                           f'd="{_path(_placed(r.polygon, shift[r.view]))}"/>')
        out.append("</g>")

    if felt:
        out.append(f'<g class="reported-layer" fill="{REPORTED_FILL}" fill-opacity="0.35" stroke="{REPORTED_FILL}" '
                   f'stroke-width="0.9" stroke-dasharray="1.2 0.8" pointer-events="none">')
        out += [f'<path class="reported" data-region="{r.id}" d="{_path(_placed(r.polygon, shift[r.view]))}"/>'
                for r in atlas.regions if r.id in felt]
        out.append("</g>")

    out.append('<g class="labels" text-anchor="middle" fill="#222222">')
    for view, dx in shift.items():
        side = 14.0 if view == "front" else -14.0  # the patient's left: viewer's right in front, left in back
        out.append(f'<text x="{_n(dx)}" y="{_n(label_y)}" font-size="3.6">{view}</text>')
        out.append(f'<text x="{_n(dx + side)}" y="{_n(label_y)}" font-size="3" fill="#666666">L</text>')
        out.append(f'<text x="{_n(dx - side)}" y="{_n(label_y)}" font-size="3" fill="#666666">R</text>')
    out.append("</g>")
    out += _legend(x0 + MARGIN, legend_y, with_paresthesia=shares is not None, with_reported=felt is not None)
    out.append("</svg>")
    return "\n".join(out)


def _legend(x: float, y: float, *, with_paresthesia: bool, with_reported: bool = False) -> list[str]:
    """NRS colour bar 0-10 and, when asked, the paresthesia and reported swatches; top-left corner at (x, y)."""
    cell = 2.8
    out = ['<g class="legend" font-size="2.2" fill="#222222">',
           f'<text x="{_n(x)}" y="{_n(y + 2.4)}">pain (NRS)</text>']
    bar_x = x + 13.0
    for nrs in range(NRS_MAX + 1):
        cx = bar_x + nrs * cell
        out.append(f'<rect class="legend-nrs" data-nrs="{nrs}" x="{_n(cx)}" y="{_n(y)}" width="{_n(cell)}" '
                   f'height="3" fill="{pain_fill(nrs)}" stroke="#9a9a9a" stroke-width="0.15"/>')
        if nrs in (0, 5, 10):
            out.append(f'<text x="{_n(cx + cell / 2)}" y="{_n(y + 6)}" text-anchor="middle">{nrs}</text>')
    px = bar_x + (NRS_MAX + 1) * cell + 4.0
    if with_paresthesia:
        out.append(f'<rect class="legend-paresthesia" x="{_n(px)}" y="{_n(y)}" width="{_n(cell)}" height="3" '
                   f'fill="{PARESTHESIA_FILL}" fill-opacity="{paresthesia_opacity(0.5):g}" stroke="#9a9a9a" '
                   f'stroke-width="0.15"/>')
        out.append(f'<text x="{_n(px + cell + 1.2)}" y="{_n(y + 2.4)}">predicted paresthesia</text>')
        px += 28.0
    if with_reported:
        out.append(f'<rect class="legend-reported" x="{_n(px)}" y="{_n(y)}" width="{_n(cell)}" height="3" '
                   f'fill="{REPORTED_FILL}" fill-opacity="0.35" stroke="{REPORTED_FILL}" stroke-width="0.3"/>')
        out.append(f'<text x="{_n(px + cell + 1.2)}" y="{_n(y + 2.4)}">reported by the patient</text>')
    out.append("</g>")
    return out


def _checked_pain(pain: Mapping[str, int]) -> dict[str, int]:
    for rid, nrs in pain.items():
        _known("pain", rid)
        if isinstance(nrs, bool) or not isinstance(nrs, numbers.Integral) or not 0 <= nrs <= NRS_MAX:
            raise ValueError(f"pain[{rid!r}] = {nrs!r}: not a pain intensity (allowed: integers 0 to {NRS_MAX}, "
                             f"the NRS)")
    return {rid: int(nrs) for rid, nrs in pain.items()}


def _checked_paresthesia(shares: Mapping[str, float]) -> dict[str, float]:
    for rid, v in shares.items():
        _known("paresthesia", rid)
        if (isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v) or not 0 <= v <= 1):
            raise ValueError(f"paresthesia[{rid!r}] = {v!r}: the share of the region covered must be a number "
                             f"from 0 to 1 (allowed: 0 to 1, not NaN)")
    return {rid: float(v) for rid, v in shares.items()}


def _known(field: str, rid: object) -> None:
    try:
        get_region(rid)  # type: ignore[arg-type]
    except (UnknownRegionError, TypeError):
        near = close_matches(rid) if isinstance(rid, str) else []
        hint = f"close matches: {', '.join(near)}" if near else "no close match"
        raise ValueError(f"{field}: unknown body region {rid!r}; {hint} "
                         f"(allowed: the {len(load_atlas().regions)} atlas region ids)") from None


def _checked_attrs(rid: str, extra: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not _ATTR_NAME.match(name):
            raise ValueError(f"region_attrs({rid!r}): attribute name {name!r} is not a valid XML name")
        if name in _OWN_ATTRS:
            raise ValueError(f"region_attrs({rid!r}): attribute {name!r} is set by the body map "
                             f"(reserved: {', '.join(sorted(_OWN_ATTRS))})")
        value = str(value)
        if _NOT_XML.search(value):
            raise ValueError(f"region_attrs({rid!r}): value of {name!r} has a control character XML cannot hold")
        out[name] = value
    return out


def _attrs(attrs: Mapping[str, str]) -> str:
    # quoteattr escapes &, <, >, quotes, and newlines and tabs (which XML would turn into spaces).
    return "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())


def _placed(poly: Iterable[tuple[float, float]], dx: float) -> list[tuple[float, float]]:
    """Atlas points shifted by ``dx`` and flipped to SVG's y-down (the waist line y=100 becomes 0)."""
    return [(x + dx, 100.0 - y) for x, y in poly]


def _path(points: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in points) + " Z"


def _n(v: float) -> str:
    """A short, deterministic number (two decimals at most, never ``-0``)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)
