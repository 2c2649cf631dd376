"""Body map: the front and back views of the atlas with each painful region coloured by its NRS.

Drawn with matplotlib's Agg canvas (no display needed) and saved as PNG. The front view shows the
patient's left on the viewer's right, the back view on the viewer's left (atlas.json, coordinates).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from drgsim.anatomy.atlas import load_atlas
from drgsim.anatomy.painmap import NRS_MAX, PainMap

BACK_VIEW_SHIFT = 45.0  # atlas units between the two views' midlines
NO_PAIN_FILL = "#f3f0ea"


def draw_body_map(pain: PainMap | None, path: str | Path, title: str | None = None, dpi: int = 150) -> Path:
    """Draw the body map of ``pain`` (None: the bare atlas) and save it as a PNG at ``path``."""
    heading = title or (f"pain map: {pain.to_text().replace(',', ', ')}" if pain else "body atlas")
    return draw_region_values(dict(pain.nrs) if pain else {}, path, heading, vmax=NRS_MAX, cmap="YlOrRd",
                              label="pain (NRS 0-10)", annotate=True, dpi=dpi)


def draw_region_values(values: dict[str, float], path: str | Path, title: str, *, vmax: float, cmap: str, label: str,
                       annotate: bool = False, outline: set[str] = frozenset(), dpi: int = 150) -> Path:
    """Colour each atlas region by its value (0 or absent: unfilled) and save a PNG; regions in ``outline``
    get a heavy border (e.g. the pain map under a paresthesia map)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Polygon

    atlas = load_atlas()
    colours, norm = colormaps[cmap], Normalize(0, vmax)
    fig = Figure(figsize=(8, 8.5))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.04, 0.8, 0.88))
    shift = {"front": 0.0, "back": BACK_VIEW_SHIFT}
    for view, outlines in atlas.outline.items():
        for points in outlines:
            pts = [(x + shift[view], y) for x, y in points]
            ax.add_patch(Polygon(pts, closed=True, facecolor="white", edgecolor="black", linewidth=1.2, zorder=1))
    for region in atlas.regions:
        pts = [(x + shift[region.view], y) for x, y in region.polygon]
        value = values.get(region.id)
        face = colours(norm(value)) if value else NO_PAIN_FILL
        heavy = region.id in outline
        ax.add_patch(Polygon(pts, closed=True, facecolor=face, edgecolor="#b30000" if heavy else "#777777",
                             linewidth=1.6 if heavy else 0.5, zorder=3 if heavy else 2))
        if value and annotate:
            cx = sum(p[0] for p in pts) / len(pts)
            cy = sum(p[1] for p in pts) / len(pts)
            ax.text(cx, cy, f"{value:g}", ha="center", va="center", fontsize=7, fontweight="bold", zorder=4)
    for view, x0 in shift.items():
        ax.text(x0, 104, view, ha="center", fontsize=12)
        left_x = 14 if view == "front" else -14
        ax.text(x0 + left_x, 104, "L", ha="center", fontsize=10, color="#555555")
        ax.text(x0 - left_x, 104, "R", ha="center", fontsize=10, color="#555555")
    ax.set_xlim(-22, BACK_VIEW_SHIFT + 22)
    ax.set_ylim(-19, 108)
    ax.set_aspect("equal")
    ax.axis("off")
    cax = fig.add_axes((0.86, 0.25, 0.03, 0.5))
    fig.colorbar(ScalarMappable(norm=norm, cmap=colours), cax=cax, label=label)
    fig.suptitle(textwrap.fill(title, 100), fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path
