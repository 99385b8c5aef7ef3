"""The report's charts as inline SVG, drawn in Python: lines over dates and bars by category (no
charting library: the page must open from disk with nothing else).
"""

from __future__ import annotations

import html
from datetime import datetime


def svg_lines(
    series: dict[str, list[tuple[str, float]]], title: str, unit: str, width: int = 420
) -> str:
    """A small line chart (one line per key) as SVG."""
    height, pad = 180, 34
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<p class="empty">{html.escape(title)}: nothing to draw.</p>'
    days = sorted({d for d, _ in points})
    top = max(v for _, v in points) or 1.0
    start = datetime.fromisoformat(days[0])
    span = max(1.0, (datetime.fromisoformat(days[-1]) - start).days)

    def xy(day: str, value: float) -> tuple[float, float]:
        x = pad + (datetime.fromisoformat(day) - start).days / span * (width - 2 * pad)
        return round(x, 1), round(height - pad - value / top * (height - 2 * pad), 1)

    palette = ["#d7301f", "#2b8cbe", "#33a02c", "#6a3d9a", "#ff7f00", "#8c6d31"]
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="14" class="title">{html.escape(title)}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" class="axis"/>',
        f'<text x="{pad - 4}" y="{pad + 4}" class="tick" text-anchor="end">{top:.1f}</text>',
        f'<text x="{pad - 4}" y="{height - pad}" class="tick" text-anchor="end">0</text>',
        f'<text x="{pad}" y="{height - pad + 14}" class="tick">{days[0]}</text>',
        f'<text x="{width - pad}" y="{height - pad + 14}" class="tick" '
        f'text-anchor="end">{days[-1]}</text>',
        f'<text x="{width - pad}" y="14" class="tick" text-anchor="end">{html.escape(unit)}</text>',
    ]
    for k, (name, values) in enumerate(sorted(series.items())[: len(palette)]):
        colour = palette[k]
        coords = " ".join(f"{x},{y}" for x, y in (xy(d, v) for d, v in sorted(values)))
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts += [
            f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>'
            for x, y in (xy(d, v) for d, v in values)
        ]
        parts.append(
            f'<text x="{width - pad - 60}" y="{pad + 12 * k}" class="tick" fill="{colour}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(counts: dict[str, int], colours: dict[str, str], title: str) -> str:
    if not counts:
        return f'<p class="empty">{html.escape(title)}: none.</p>'
    width, row = 420, 20
    height = 24 + row * len(counts)
    top = max(counts.values())
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="4" y="14" class="title">{html.escape(title)}</text>',
    ]
    for k, (name, n) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        y = 22 + k * row
        w = max(1.0, n / top * (width - 190))
        parts += [
            f'<text x="4" y="{y + 13}" class="tick">{html.escape(name)}</text>',
            f'<rect x="120" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{colours.get(name, "#777")}"/>',
            f'<text x="{124 + w:.1f}" y="{y + 13}" class="tick">{n}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
