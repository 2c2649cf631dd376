"""Server-rendered charts of the clinic (inline SVG, no script): the patient's NRS over the trial diary and
the follow-up visits, dates on x, NRS 0-10 on y, one series each with a legend."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 64  # margins (px) for the axis labels and the legend
SERIES = {"trial": ("trial diary", "#457b9d"), "follow-up": ("follow-up visits", "#e63946")}
MAX_X_TICKS = 6


def _x_ticks(first: date, last: date) -> list[date]:
    """At most MAX_X_TICKS dates, evenly spread from ``first`` to ``last`` (both included)."""
    days = (last - first).days
    step = max(1, -(-days // (MAX_X_TICKS - 1)))
    return [first + timedelta(days=d) for d in range(0, days + 1, step)]


def nrs_chart_svg(series: dict[str, list[tuple[date, float]]]) -> str | None:
    """A line chart of NRS by date for ``series`` (``trial`` and ``follow-up``: (date, NRS) pairs); None when
    there is no point. Each point is a circle with ``data-series``, ``data-date`` and ``data-nrs``."""
    points = [(name, d, nrs) for name, pts in series.items() for d, nrs in sorted(pts)]
    if not points:
        return None
    first, last = min(d for _, d, _ in points), max(d for _, d, _ in points)
    if first == last:
        first, last = first - timedelta(days=1), last + timedelta(days=1)
    span, plot_w, plot_h = (last - first).days, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(d: date) -> float:
        return LEFT + plot_w * (d - first).days / span

    def y(nrs: float) -> float:
        return TOP + plot_h * (1 - nrs / 10)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-label="NRS pain score by date" class="nrs-chart">',
           f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
           f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
           f'stroke="#333"/>']
    for nrs in range(0, 11, 2):
        out.append(f'<line x1="{LEFT - 4}" y1="{y(nrs):.1f}" x2="{LEFT + plot_w}" y2="{y(nrs):.1f}" stroke="#eee"/>'
                   f'<text class="y-tick" x="{LEFT - 8}" y="{y(nrs) + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{nrs}</text>')
    for d in _x_ticks(first, last):
        out.append(f'<line x1="{x(d):.1f}" y1="{TOP + plot_h}" x2="{x(d):.1f}" y2="{TOP + plot_h + 4}" stroke="#333"/>'
                   f'<text class="x-tick" x="{x(d):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
                   f'font-size="11">{d.isoformat()}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 26}" text-anchor="middle" font-size="12">date</text>'
               f'<text x="12" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 12 {TOP + plot_h / 2})">NRS (0-10)</text>')
    for i, (name, pts) in enumerate((n, sorted(p)) for n, p in series.items()):
        label, colour = SERIES[name]
        if pts:
            coords = " ".join(f"{x(d):.1f},{y(nrs):.1f}" for d, nrs in pts)
            out.append(f'<polyline class="series" data-series="{name}" points="{coords}" fill="none" '
                       f'stroke="{colour}" stroke-width="2"/>')
            out += [f'<circle class="point" data-series="{name}" data-date="{d.isoformat()}" data-nrs="{nrs:g}" '
                    f'cx="{x(d):.1f}" cy="{y(nrs):.1f}" r="4" fill="{colour}"><title>{escape(label)} '
                    f'{d.isoformat()}: NRS {nrs:g}</title></circle>' for d, nrs in pts]
        lx = LEFT + 170 * i
        out.append(f'<g class="legend" data-series="{name}"><line x1="{lx}" y1="{HEIGHT - 8}" x2="{lx + 20}" '
                   f'y2="{HEIGHT - 8}" stroke="{colour}" stroke-width="2"/><text x="{lx + 26}" y="{HEIGHT - 4}" '
                   f'font-size="12">{escape(label)}</text></g>')
    out.append("</svg>")
    return "".join(out)
