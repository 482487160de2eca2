"""Charts drawn on the server as SVG: no script, no network, sharp on any screen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 640, 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    low: float
    high: float


def line_chart(points: Sequence[Point], units: str, title: str) -> SafeString:
    """An SVG line of the values, over a band from each bucket's low to its high."""
    if not points:
        return format_html('<p class="chart-empty">No {} readings in this range.</p>', title)
    start, end = points[0].at.timestamp(), points[-1].at.timestamp()
    bottom = min(p.low for p in points)
    top = max(p.high for p in points)
    if top == bottom:
        bottom, top = bottom - 1, top + 1
    span = max(end - start, 1)
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(point: Point) -> float:
        return MARGIN_LEFT + (point.at.timestamp() - start) / span * plot_width

    def y(value: float) -> float:
        return MARGIN_TOP + (top - value) / (top - bottom) * plot_height

    line = " ".join(f"{x(p):.1f},{y(p.value):.1f}" for p in points)
    band = " ".join(
        [f"{x(p):.1f},{y(p.high):.1f}" for p in points]
        + [f"{x(p):.1f},{y(p.low):.1f}" for p in reversed(points)]
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" class="{}">{}</text>',
        [
            (MARGIN_LEFT - 6, MARGIN_TOP + 4, "axis-y", f"{top:g}"),
            (MARGIN_LEFT - 6, HEIGHT - MARGIN_BOTTOM, "axis-y", f"{bottom:g}"),
            (MARGIN_LEFT, HEIGHT - 8, "axis-x start", _stamp(points[0].at)),
            (WIDTH - MARGIN_RIGHT, HEIGHT - 8, "axis-x end", _stamp(points[-1].at)),
        ],
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" data-points="{}">'
        '<title>{}</title><polygon class="band" points="{}"/>'
        '<polyline class="line" points="{}"/>{}<text x="{}" y="{}" class="units">{}</text></svg>',
        WIDTH,
        HEIGHT,
        f"{title} in {units}" if units else title,
        len(points),
        title,
        band,
        line,
        labels,
        MARGIN_LEFT + 4,
        MARGIN_TOP + 10,
        f"{title} ({units})" if units else title,
    )


def _stamp(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%d %b %H:%M}"
