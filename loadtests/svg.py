"""Plots as inline SVG, drawn from the run's own numbers: the reports must open offline (no CDN, no script).

Each plot carries what it was drawn from as data attributes (``data-points``, ``data-max``), and its y axis
is labelled with the plotted maximum, so a reader — and the browser test — can check it against the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["bar_chart", "line_chart"]

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 24, 36
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c")


def _num(value: float) -> str:
    if value and abs(value) < 1:
        return f"{value:.3g}"
    return f"{value:,.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def _frame(test_id: str, title: str, x_label: str, y_label: str, y_max: float, x_min: float, x_max: float,
           attrs: str, x_ends: bool = True) -> list[str]:
    ends = [
        f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{_num(x_min)}</text>',
        f'<text class="xmax" x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 16}" text-anchor="end">{_num(x_max)}</text>',
    ] if x_ends else []
    return [
        f'<figure class="plot"><figcaption>{escape(title)}</figcaption>'
        f'<svg data-testid="{escape(test_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" {attrs}>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#555"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#555"/>',
        f'<text class="ymax" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{_num(y_max)}</text>',
        f'<text x="{LEFT - 6}" y="{HEIGHT - BOTTOM}" text-anchor="end">0</text>',
        *ends,
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 4}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">{escape(y_label)}</text>',
    ]


def line_chart(test_id: str, title: str, xs: Sequence[float], series: Mapping[str, Sequence[float | None]],
               x_label: str = "seconds", y_label: str = "") -> str:
    """One polyline per series (a None breaks nothing: that point is left out). ``data-points`` is the
    number of plotted points of the first series, ``data-max`` the largest plotted value of all."""
    values = [v for ys in series.values() for v in ys if v is not None]
    if not xs or not values:
        return (f'<figure class="plot"><figcaption>{escape(title)}</figcaption>'
                f'<p class="empty" data-testid="{escape(test_id)}" data-points="0">no samples</p></figure>')
    y_max = max(values) or 1.0
    x_min, x_max = min(xs), max(xs)
    span = (x_max - x_min) or 1.0
    first = next(iter(series.values()))
    attrs = f'data-points="{sum(v is not None for v in first)}" data-max="{max(values)}"'
    out = _frame(test_id, title, x_label, y_label, max(values), x_min, x_max, attrs)
    for index, (name, ys) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [
            f"{LEFT + (x - x_min) / span * (WIDTH - LEFT - RIGHT):.1f},"
            f"{HEIGHT - BOTTOM - (y / y_max) * (HEIGHT - TOP - BOTTOM):.1f}"
            for x, y in zip(xs, ys, strict=False) if y is not None
        ]
        out.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{colour}" '
                   f'stroke-width="2" points="{" ".join(points)}"/>')
        out.append(f'<text x="{LEFT + 8 + index * 150}" y="{TOP - 8}" fill="{colour}">{escape(name)}</text>')
    out.append("</svg></figure>")
    return "\n".join(out)


def bar_chart(test_id: str, title: str, bars: Sequence[Sequence[float]], x_label: str = "ms",
              y_label: str = "count", labels: Sequence[str] | None = None) -> str:
    """One bar per ``[x, height]`` (a distribution: bucket and count). ``data-points`` = bars,
    ``data-max`` = the tallest bar."""
    if not bars:
        return (f'<figure class="plot"><figcaption>{escape(title)}</figcaption>'
                f'<p class="empty" data-testid="{escape(test_id)}" data-points="0">no samples</p></figure>')
    heights = [float(b[1]) for b in bars]
    top = max(heights) or 1.0
    attrs = f'data-points="{len(bars)}" data-max="{max(heights)}"'
    out = _frame(test_id, title, x_label, y_label, max(heights), float(bars[0][0]), float(bars[-1][0]), attrs,
                 x_ends=labels is None)
    slot = (WIDTH - LEFT - RIGHT) / len(bars)
    for index, (x, height) in enumerate((float(b[0]), float(b[1])) for b in bars):
        h = height / top * (HEIGHT - TOP - BOTTOM)
        label = labels[index] if labels else f"{_num(x)} {x_label}"
        out.append(f'<rect class="bar" x="{LEFT + index * slot + 1:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" '
                   f'width="{max(1.0, slot - 2):.1f}" height="{h:.1f}" fill="{COLOURS[0]}">'
                   f'<title>{escape(label)}: {_num(height)}</title></rect>')
        if labels:
            out.append(f'<text x="{LEFT + (index + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                       f'text-anchor="middle">{escape(label)}</text>')
    out.append("</svg></figure>")
    return "\n".join(out)
