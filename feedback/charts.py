"""Server-rendered SVG charts: a line chart of series over time, and a bar chart. No JavaScript needed."""

from __future__ import annotations

from datetime import datetime
from html import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#f08c00", "#495057"]
WIDTH, HEIGHT = 640, 240
# TOP leaves a band above the plot for the y-axis label, clear of the top tick's number.
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 30, 32


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(value)


def _svg_open(title: str) -> list[str]:
    """The opening of every chart: the titled SVG element and its white background."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]


def line_chart(
    series: dict[str, list[tuple[datetime, float]]], *, title: str, y_label: str = "", y_max: float | None = None
) -> SafeString:
    """One line per series, x by time, with a legend; an empty chart says there is no data yet."""
    points = [point for values in series.values() for point in values]
    parts = _svg_open(title)
    if not points:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#6b6b70">No data yet</text>')
        return mark_safe("".join(parts) + "</svg>")  # noqa: S308 - every piece of text is escaped above
    x_min = min(moment for moment, _ in points).timestamp()
    x_max = max(moment for moment, _ in points).timestamp()
    top = y_max or _nice_max(max(value for _, value in points))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment):
        return LEFT + (plot_w * (moment.timestamp() - x_min) / (x_max - x_min) if x_max > x_min else plot_w / 2)

    def y(value):
        return TOP + plot_h - plot_h * min(value, top) / top

    for fraction in (0, 0.5, 1):
        level = top * fraction
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(level):.1f}" y2="{y(level):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end" font-size="11">{level:g}</text>')
    first, last = min(moment for moment, _ in points), max(moment for moment, _ in points)
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 10}" font-size="11">{first:%Y-%m-%d}</text>')
    if last != first:
        parts.append(
            f'<text x="{LEFT + plot_w}" y="{HEIGHT - 10}" font-size="11" text-anchor="end">{last:%Y-%m-%d}</text>'
        )
    if y_label:
        parts.append(f'<text x="4" y="{TOP - 16}" font-size="11" fill="#6b6b70">{escape(y_label)}</text>')
    for index, (label, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{x(moment):.1f},{y(value):.1f}" for moment, value in values)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{escape(label)}</title></polyline>"
        )
        for moment, value in values:
            parts.append(
                f'<circle cx="{x(moment):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(label)} {moment:%Y-%m-%d}: {value:.2f}</title></circle>"
            )
        legend_y = TOP + 14 * index + 8
        parts.append(f'<rect x="{WIDTH - RIGHT + 12}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 26}" y="{legend_y + 1}" font-size="11">{escape(label[:20])}</text>')
    return mark_safe("".join(parts) + "</svg>")  # noqa: S308 - every piece of text is escaped above


def bar_chart(bars: list[tuple[str, float]], *, title: str, y_max: float | None = None) -> SafeString:
    parts = _svg_open(title)
    if not bars:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#6b6b70">No data yet</text>')
        return mark_safe("".join(parts) + "</svg>")  # noqa: S308
    top = y_max or _nice_max(max(value for _, value in bars))
    plot_w, plot_h = WIDTH - LEFT - 16, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(bars)
    for index, (label, value) in enumerate(bars):
        height = plot_h * min(value, top) / top
        x = LEFT + index * slot + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{height:.1f}" fill="{PALETTE[index % len(PALETTE)]}">'
            f"<title>{escape(label)}: {value:.2f}</title></rect>"
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 12}" font-size="11" text-anchor="middle">'
            f"{escape(label[:14])}</text>"
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h - height - 4:.1f}" font-size="11" '
            f'text-anchor="middle">{value:.2f}</text>'
        )
    return mark_safe("".join(parts) + "</svg>")  # noqa: S308
