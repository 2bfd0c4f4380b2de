"""Small server-side SVG charts for the statistics page: no chart library, nothing downloaded.

Each function returns safe SVG markup sized by a viewBox, so the chart scales with its card.
Every bar and point carries a <title>, which browsers show as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

COLORS = {"done": "#1f8a4c", "failed": "#c53030", "queued": "#b7791f", "processing": "#3056d3",
          "uploaded": "#8a94a6", "confirmed": "#1f8a4c", "rejected": "#c53030", "depth": "#3056d3"}


# Kinds of access-log actions on the activity chart; failed sign-ins stand out in red.
ACTIVITY_PALETTE = ("#3056d3", "#15703d", "#8a5a0b", "#6b46c1", "#0e7490", "#64748b", "#be185d", "#4d7c0f")
FAILED_SIGN_IN_COLOR = "#dc2626"


def _nice_max(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis (at least 4: counts get whole ticks)."""
    if value <= 4:
        return 4
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, body: list[str], label: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every piece below is built with format_html/escape
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet">{"".join(body)}</svg>'
    )


def _y_grid(x0: int, x1: int, y0: int, y1: int, top: float, ticks: int = 4) -> list[str]:
    out = []
    for i in range(ticks + 1):
        value = top * i / ticks
        y = y1 - (y1 - y0) * i / ticks
        out.append(format_html('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>', x0, x1, round(y, 1),
                               round(y, 1)))
        out.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>', x0 - 6,
                               round(y + 4, 1), _fmt(value)))
    return out


def hbars(items: Sequence[tuple[str, float, str]], *, label: str, width: int = 520) -> SafeString:
    """Horizontal bars: (name, value, colour) each, with the value at the bar's end."""
    row, left, right = 30, 110, 60
    height = max(row * len(items) + 10, 40)
    top = max((v for _, v, _ in items), default=0) or 1
    body = []
    for i, (name, value, color) in enumerate(items):
        y = 6 + i * row
        w = (width - left - right) * value / top
        body.append(format_html(
            '<g><title>{}: {}</title><text class="lbl" x="{}" y="{}" text-anchor="end">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="{}"/>'
            '<text class="val" x="{}" y="{}">{}</text></g>',
            name, _fmt(value), left - 8, y + 15, name, left, y, round(max(w, 1.5), 1), row - 10, color,
            round(left + w + 6, 1), y + 15, _fmt(value)))
    return _svg(width, height, body, label)


def columns(series: Sequence[dict], keys: Sequence[str], *, label: str, x_label=lambda d: "",
            width: int = 720, height: int = 220, every: int = 6,
            colors: dict[str, str] | None = None) -> SafeString:
    """Stacked columns, one per item of ``series`` (a dict with a value per key); a label every ``every``."""
    left, bottom, top_pad = 40, 24, 10
    x1 = width - 8
    plot_w, y1 = x1 - left, height - bottom
    top = _nice_max(max((sum(d[k] for k in keys) for d in series), default=0))
    body = _y_grid(left, x1, top_pad, y1, top)
    n = max(len(series), 1)
    slot = plot_w / n
    for i, d in enumerate(series):
        x = left + i * slot + slot * 0.12
        y = y1
        parts = []
        for k in keys:
            h = (y1 - top_pad) * d[k] / top
            if h > 0:
                y -= h
                parts.append(format_html('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                                         round(x, 1), round(y, 1), round(slot * 0.76, 1), round(h, 1),
                                         (colors or COLORS).get(k, "#888")))
        tip = ", ".join(f"{k} {d[k]}" for k in keys)
        body.append(format_html('<g class="col"><title>{}: {}</title>{}'
                                '<rect class="hit" x="{}" y="{}" width="{}" height="{}"/></g>',
                                x_label(d), tip, mark_safe("".join(parts)),  # noqa: S308 - format_html parts
                                round(left + i * slot, 1), top_pad, round(slot, 1), y1 - top_pad))
        if i % every == 0:
            body.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                                    round(left + i * slot + slot / 2, 1), height - 6, x_label(d)))
    return _svg(width, height, body, label)


def area(series: Sequence[dict], key: str, *, label: str, x_label=lambda d: "", width: int = 720,
         height: int = 200, every: int = 6) -> SafeString:
    """A filled line (e.g. the queue's depth hour by hour)."""
    left, bottom, top_pad = 40, 24, 10
    x1 = width - 8
    y1 = height - bottom
    top = _nice_max(max((d[key] for d in series), default=0))
    body = _y_grid(left, x1, top_pad, y1, top)
    n = max(len(series) - 1, 1)
    points = [(left + (x1 - left) * i / n, y1 - (y1 - top_pad) * d[key] / top) for i, d in enumerate(series)]
    if points:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        fill = f"{points[0][0]:.1f},{y1} {line} {points[-1][0]:.1f},{y1}"
        body.append(format_html('<polygon class="area" points="{}" fill="{}"/>', fill, COLORS["depth"]))
        body.append(format_html('<polyline class="line" points="{}" stroke="{}"/>', line, COLORS["depth"]))
    for i, ((x, y), d) in enumerate(zip(points, series, strict=True)):
        body.append(format_html('<circle class="dot" cx="{}" cy="{}" r="3"><title>{}: {}</title></circle>',
                                round(x, 1), round(y, 1), x_label(d), d[key]))
        if i % every == 0:
            body.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                                    round(x, 1), height - 6, x_label(d)))
    return _svg(width, height, body, label)


def distance_histogram(bins: Sequence[tuple[int, str, int]], *, bin_width: float, threshold: float,
                       bands: Sequence[tuple[float, float, str]], width: int = 720,
                       height: int = 260) -> SafeString:
    """Confirmed (green, up) and rejected (red, down) counts per distance bin, the threshold marked.

    ``bands`` are (from, to, words) ranges shaded behind the bars: the plain-language scale.
    """
    left, right, top_pad, bottom = 40, 12, 18, 30
    x1 = width - right
    mid = top_pad + (height - top_pad - bottom) / 2
    half = mid - top_pad
    max_x = max(threshold + 0.1, max(((b + 1) * bin_width for b, _, _ in bins), default=0))
    max_x = math.ceil(max_x / 0.1) * 0.1

    def sx(d: float) -> float:
        return left + (x1 - left) * d / max_x

    counts: dict[tuple[int, str], int] = {(b, s): n for b, s, n in bins}
    top = _nice_max(max(counts.values(), default=0))
    body = []
    for lo, hi, words in bands:
        body.append(format_html('<rect class="band" x="{}" y="{}" width="{}" height="{}">'
                                '<title>{}</title></rect>', round(sx(lo), 1), top_pad,
                                round(sx(min(hi, max_x)) - sx(lo), 1), height - top_pad - bottom, words))
    for i in range(5):
        for sign in (1, -1):
            y = mid - sign * half * i / 4
            body.append(format_html('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>', left, x1,
                                    round(y, 1), round(y, 1)))
            if i:
                body.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
                                        left - 6, round(y + 4, 1), _fmt(top * i / 4)))
    for (b, status), n in sorted(counts.items()):
        h = half * n / top
        x = sx(b * bin_width) + 1
        w = max(sx((b + 1) * bin_width) - sx(b * bin_width) - 2, 1)
        y = mid - h if status == "confirmed" else mid
        body.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{}"><title>{} {}–{}: {}</title></rect>',
            round(x, 1), round(y, 1), round(w, 1), round(h, 1), COLORS[status], status,
            f"{b * bin_width:.3f}", f"{(b + 1) * bin_width:.3f}", n))
    body.append(format_html('<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>', left, x1, mid, mid))
    step = 0.1
    for i in range(round(max_x / step) + 1):
        d = i * step
        body.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                                round(sx(d), 1), height - 10, f"{d:.1f}"))
    tx = round(sx(threshold), 1)
    body.append(format_html('<line class="threshold" x1="{}" x2="{}" y1="{}" y2="{}"/>', tx, tx, top_pad - 6,
                            height - bottom))
    body.append(format_html('<text class="threshold-label" x="{}" y="{}" text-anchor="end">'
                            'threshold {}</text>', tx - 4, top_pad + 4, f"{threshold:.3f}"))
    side = '<text class="side" x="{}" y="{}">{}</text>'
    body.append(format_html(side, left + 6, top_pad + 12, "confirmed ↑"))
    body.append(format_html(side, left + 6, height - bottom - 6, "rejected ↓"))
    return _svg(width, height, body, "Distances of confirmed and rejected identifications")
