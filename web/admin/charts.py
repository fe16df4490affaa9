"""Server-side SVG bar charts for the KPI page: no script and no chart library in the browser."""
from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 220
# Room for the value labels above the bars and the category labels below them.
TOP, BOTTOM, LEFT = 24, 40, 8
MAX_BAR = 72  # a chart of one or two bars keeps them bar-shaped


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str = "",
              digits: int = 1) -> Markup:
    """An SVG bar per label; a None value (nothing measured) draws no bar and says "n/a"."""
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT * 2) / count
    top = max((v for v in values if v is not None), default=0) or 1
    plot = HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>']
    for i, (label, value) in enumerate(zip(labels, values)):
        width = min(slot * 0.7, MAX_BAR)
        x = LEFT + i * slot + (slot - width) / 2
        middle = x + width / 2
        if value is None:
            text, height = "n/a", 0.0
        else:
            text, height = f"{value:.{digits}f}{unit}", plot * value / top
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{width:.1f}" '
                         f'height="{height:.1f}"><title>{escape(label)}: {escape(text)}</title></rect>')
        parts.append(f'<text class="value" x="{middle:.1f}" y="{HEIGHT - BOTTOM - height - 6:.1f}" '
                     f'text-anchor="middle">{escape(text)}</text>')
        parts.append(f'<text class="label" x="{middle:.1f}" y="{HEIGHT - BOTTOM + 16:.1f}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    if not labels:
        parts.append(f'<text class="value" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no cases in the '
                     f'period</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
