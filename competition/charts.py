"""Server-rendered SVG for results: each entry's reviewers' scores on one line (the spread and agreement
at a glance), and the distribution of every entry's final score."""

from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString, mark_safe

from feedback.charts import PALETTE

WIDTH = 640
LEFT, RIGHT = 170, 24
ROW = 22


def _x(value: float, low: float, high: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * ((value - low) / (high - low) if high > low else 0.5)


def _bounds(values: list[float]) -> tuple[float, float]:
    low, high = min([*values, -1.0]), max([*values, 1.0])
    return low - 0.1, high + 0.1


def _frame(height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>',
    ]


def reviewer_spread(rows: list[tuple[str, float, list[float]]], *, title: str) -> SafeString:
    """One line per entry (label, score, each reviewer's combined z): a dot per reviewer, a bar at the mean."""
    height = 30 + ROW * max(1, len(rows))
    parts = _frame(height, title)
    values = [value for _, score, zs in rows for value in (score, *zs)]
    if not rows:
        parts.append(f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" fill="#6b6b70">No reviews yet</text>')
        return mark_safe("".join(parts) + "</svg>")  # noqa: S308 - every piece of text is escaped
    low, high = _bounds(values)
    zero = _x(0, low, high)
    parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="4" y2="{height - 18}" stroke="#ccc"/>')
    parts.append(f'<text x="{zero:.1f}" y="{height - 4}" font-size="11" text-anchor="middle">0 (average)</text>')
    for index, (label, score, zs) in enumerate(rows):
        y = 16 + ROW * index
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4}" font-size="11" text-anchor="end">{escape(label[:28])}</text>')
        if zs:
            parts.append(
                f'<line x1="{_x(min(zs), low, high):.1f}" x2="{_x(max(zs), low, high):.1f}" y1="{y}" '
                f'y2="{y}" stroke="#adb5bd" stroke-width="2"/>'
            )
        for value in zs:
            parts.append(
                f'<circle class="review" cx="{_x(value, low, high):.1f}" cy="{y}" r="4" fill="{PALETTE[0]}" '
                f'fill-opacity="0.7"><title>{value:+.2f}</title></circle>'
            )
        parts.append(
            f'<rect class="mean" x="{_x(score, low, high) - 1.5:.1f}" y="{y - 7}" width="3" height="14" '
            f'fill="{PALETTE[1]}"><title>score {score:+.3f}</title></rect>'
        )
    return mark_safe("".join(parts) + "</svg>")  # noqa: S308 - every piece of text is escaped


def score_distribution(scores: list[tuple[int, float]], *, highlight: int | None = None, title: str) -> SafeString:
    """Every entry's final score as a dot on one axis; the ``highlight`` entry in orange, no names."""
    height = 60
    parts = _frame(height, title)
    if not scores:
        parts.append(f'<text x="{WIDTH / 2}" y="30" text-anchor="middle" fill="#6b6b70">No scores</text>')
        return mark_safe("".join(parts) + "</svg>")  # noqa: S308
    low, high = _bounds([score for _, score in scores])
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="28" y2="28" stroke="#ccc"/>')
    parts.append(f'<text x="{LEFT - 8}" y="32" font-size="11" text-anchor="end">score (z)</text>')
    for label, value in ((f"{low:+.1f}", low), ("0", 0.0), (f"{high:+.1f}", high)):
        parts.append(f'<text x="{_x(value, low, high):.1f}" y="52" font-size="11" text-anchor="middle">{label}</text>')
    for key, score in sorted(scores, key=lambda item: item[0] == highlight):
        colour, radius = (PALETTE[1], 7) if key == highlight else (PALETTE[0], 4)
        kind = "yours" if key == highlight else "entry"
        parts.append(
            f'<circle class="{kind}" cx="{_x(score, low, high):.1f}" cy="28" r="{radius}" fill="{colour}" '
            f'fill-opacity="0.75"><title>{score:+.2f}</title></circle>'
        )
    return mark_safe("".join(parts) + "</svg>")  # noqa: S308
