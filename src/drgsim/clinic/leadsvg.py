"""A lead as inline SVG: its contacts drawn to scale from the lead catalog, each one clickable.

Clinician programmers show the lead with its electrodes and let the clinician tap an electrode to make it a
cathode, an anode or off (Abbott clinician programmer app; Boston Scientific Bionic Navigator). The drawing is
written on the server, like ``svgmap`` writes the body map, so the page needs no script: each contact carries
the HTMX attributes ``contact_attrs(number)`` gives. The distal tip (contact 1) is at the top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from xml.sax.saxutils import escape, quoteattr

from drgsim.devices.leads import LeadModel
from drgsim.devices.program import ContactState, LeadSettings

SCALE_PX_PER_MM = 14.0
BODY_WIDTH_PX = 22.0
STYLE = {ContactState.CATHODE: ("#1b1b1b", "#ffffff", "cathode (-)"), ContactState.ANODE: ("#c62828", "#ffffff",
         "anode (+)"), ContactState.OFF: ("#d0d0d0", "#333333", "off")}  # fill, text colour, name
SYMBOL = {ContactState.CATHODE: "\u2212", ContactState.ANODE: "+", ContactState.OFF: "\u00b7"}


def lead_svg(lead: int, settings: LeadSettings, model: LeadModel,
             contact_attrs: Callable[[int], Mapping[str, str]] | None = None) -> str:
    """Lead ``lead`` with the contact states of ``settings``; ``contact_attrs(n)``: extra attributes of contact n."""
    if len(settings.contacts) != model.n_contacts:
        raise ValueError(f"contacts has {len(settings.contacts)} entries; allowed: {model.n_contacts} (lead model "
                         f"{model.id})")
    top, x = 18.0, 30.0
    length = model.contact_length_mm * SCALE_PX_PER_MM
    height = top + model.span_mm * SCALE_PX_PER_MM + 40.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lead-drawing" id="lead-drawing-{lead}" width="160" '
           f'height="{height:.0f}" viewBox="0 0 160 {height:.0f}" role="img" font-family="sans-serif" font-size="12">',
           f"<title>lead {lead} ({escape(model.name)}): click a contact to cycle cathode, anode, off</title>",
           f'<rect x="{x}" y="4" width="{BODY_WIDTH_PX}" height="{height - 4:.0f}" rx="11" fill="#f1ece4" '
           f'stroke="#8a7f70"/>']
    for i, state in enumerate(settings.contacts, start=1):
        fill, ink, name = STYLE[state]
        y = top + (i - 1) * model.contact_pitch_mm * SCALE_PX_PER_MM
        attrs = {"class": "contact", "id": f"lead-{lead}-contact-{i}", "data-state": state.value,
                 "style": "cursor:pointer", **(contact_attrs(i) if contact_attrs else {})}
        out.append(f"<g{''.join(f' {k}={quoteattr(str(v))}' for k, v in attrs.items())}>"
                   f"<title>contact {i}: {name}</title>"
                   f'<rect class="hit" x="0" y="{y:.1f}" width="160" height="{length:.1f}" fill="#ffffff" '
                   f'fill-opacity="0"/>'  # the whole row, label included, takes the click
                   f'<rect x="{x - 3}" y="{y:.1f}" width="{BODY_WIDTH_PX + 6}" height="{length:.1f}" rx="3" '
                   f'fill="{fill}" stroke="#444444"/>'
                   f'<text x="{x + BODY_WIDTH_PX / 2}" y="{y + length / 2 + 5:.1f}" text-anchor="middle" '
                   f'fill="{ink}" font-weight="bold" font-size="15">{SYMBOL[state]}</text>'
                   f'<text x="{x + BODY_WIDTH_PX + 10}" y="{y + length / 2 + 4:.1f}" fill="#333333">{i} {name}</text>'
                   "</g>")
    out.append("</svg>")
    return "\n".join(out)
