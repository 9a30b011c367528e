"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched.

Horizontal bars, one row per category, so long Chinese unit names fit on a phone. The
drawing is about as wide as a 375 px screen (viewBox scaling shrinks or grows it with its
box), every text is escaped, and the SVG describes itself for screen readers: ``<title>``
and ``<desc>`` (the figures in words) tied to the ``role="img"`` element with
``aria-labelledby``. Pages show the same figures in a table beside each chart.
"""
from __future__ import annotations

from typing import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 340
FONT_SIZE = 12
LABEL_WIDTH = 116          # room for the category labels, right-aligned against the bars
VALUE_ROOM = 40            # after the longest bar, for its value
BAR_HEIGHT = 18
ROW_GAP = 8
TOP = 4
LEGEND_ROW = 20
SWATCH = 12
# Colours distinguishable on white and by most colour-blind readers (the table is the fallback).
PALETTE = ("#1565c0", "#ef6c00", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#9e9d24", "#5d4037",
           "#d81b60", "#546e7a")
BAR_COLOUR = PALETTE[0]
PLOT_WIDTH = WIDTH - LABEL_WIDTH - VALUE_ROOM


def bar_chart(chart_id: str, title: str, description: str, bars: Sequence[tuple[str, float]], *,
              empty_text: str = "暂无数据", links: Sequence[str | None] | None = None,
              value_text: Callable[[float], str] | None = None) -> Markup:
    """One bar per (label, value), lengths proportional to the values (the largest fills the plot).
    With ``links``, each bar leads to its own address (the cases behind the figure); ``value_text``
    writes the values (money: the pages' money format)."""
    if not bars:
        return _empty(chart_id, title, description, empty_text)
    value_text = value_text or format_number
    # Room after the longest bar for its value: money ("12,000.00 元") needs more than counts.
    room = max(VALUE_ROOM, max(_text_width(value_text(value)) for _, value in bars) + 8)
    scale = _scale((value for _, value in bars), WIDTH - LABEL_WIDTH - room)
    parts = []
    for index, (label, value) in enumerate(bars):
        y = TOP + index * (BAR_HEIGHT + ROW_GAP)
        width = _length(value, scale)
        bar = (
            f'<g class="bar">{_label(label, y)}'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:g}" height="{BAR_HEIGHT}" fill="{BAR_COLOUR}">'
            f'<title>{escape(label)}：{escape(value_text(value))}</title></rect>'
            f'{_value(value_text(value), LABEL_WIDTH + width, y)}</g>'
        )
        link = links[index] if links else None
        parts.append(f'<a href="{escape(link)}">{bar}</a>' if link else bar)
    summary = "；".join(f"{label} {value_text(value)}" for label, value in bars)
    height = TOP + len(bars) * (BAR_HEIGHT + ROW_GAP)
    return _svg(chart_id, title, f"{description}：{summary}。", height, "".join(parts))


def stacked_bar_chart(chart_id: str, title: str, description: str, series: Sequence[str],
                      rows: Sequence[tuple[str, Sequence[float]]], *, empty_text: str = "暂无数据",
                      total_label: str = "合计") -> Markup:
    """One bar per (label, values) row, made of one segment per series (values in ``series`` order),
    with a legend below; bar lengths are proportional to the row totals."""
    if not rows or not series:
        return _empty(chart_id, title, description, empty_text)
    scale = _scale(sum(values) for _, values in rows)
    parts, summaries = [], []
    for index, (label, values) in enumerate(rows):
        y = TOP + index * (BAR_HEIGHT + ROW_GAP)
        x, segments = float(LABEL_WIDTH), []
        for number, (name, value) in enumerate(zip(series, values)):
            width = _length(value, scale)
            if width > 0:
                segments.append(
                    f'<rect x="{x:g}" y="{y}" width="{width:g}" height="{BAR_HEIGHT}" '
                    f'fill="{_colour(number)}" data-series="{number}">'
                    f'<title>{escape(label)} · {escape(name)}：{escape(format_number(value))}</title></rect>'
                )
            x += width
        total = sum(values)
        parts.append(f'<g class="bar">{_label(label, y)}{"".join(segments)}{_value(format_number(total), x, y)}</g>')
        shown = "，".join(f"{name} {format_number(value)}" for name, value in zip(series, values) if value)
        summaries.append(f"{label} {total_label} {format_number(total)}" + (f"（{shown}）" if shown else ""))
    bars_height = TOP + len(rows) * (BAR_HEIGHT + ROW_GAP)
    legend, legend_height = _legend(series, bars_height)
    summary = "；".join(summaries)
    return _svg(chart_id, title, f"{description}：{summary}。", bars_height + legend_height,
                "".join(parts) + legend)


# --- Pieces ---------------------------------------------------------------------------------------

def _svg(chart_id: str, title: str, description: str, height: float, body: str) -> Markup:
    chart_id = escape(chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:g}" width="{WIDTH}" '
        f'height="{height:g}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-size="{FONT_SIZE}" class="bar-chart">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
        f'{body}</svg>'
    )


def _empty(chart_id: str, title: str, description: str, empty_text: str) -> Markup:
    body = f'<text x="{WIDTH / 2:g}" y="24" text-anchor="middle" fill="#57606a">{escape(empty_text)}</text>'
    return _svg(chart_id, title, f"{description}：{empty_text}。", 40, body)


def _scale(values, plot_width: float = PLOT_WIDTH) -> float:
    """Plot units per unit of value; zero when there is nothing to draw (all bars then have no length)."""
    largest = max((value for value in values), default=0)
    return plot_width / largest if largest > 0 else 0.0


def _length(value: float, scale: float) -> float:
    return round(max(value, 0) * scale, 2)


def _label(label: str, y: float) -> str:
    shown = _fit(label, LABEL_WIDTH - 8)
    tooltip = f"<title>{escape(label)}</title>" if shown != label else ""
    return (f'<text x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT / 2:g}" dy="0.35em" text-anchor="end">'
            f'{tooltip}{escape(shown)}</text>')


def _value(text: str, x: float, y: float) -> str:
    return f'<text x="{x + 4:g}" y="{y + BAR_HEIGHT / 2:g}" dy="0.35em" class="value">{escape(text)}</text>'


def _legend(series: Sequence[str], top: float) -> tuple[str, float]:
    """Swatches with their names, wrapped onto as many rows as the width needs."""
    items, x, row = [], 0.0, 0
    for number, name in enumerate(series):
        width = SWATCH + 4 + _text_width(name) + 12
        if x > 0 and x + width > WIDTH:
            x, row = 0.0, row + 1
        y = top + 4 + row * LEGEND_ROW
        items.append(
            f'<g class="legend-item"><rect x="{x:g}" y="{y:g}" width="{SWATCH}" height="{SWATCH}" '
            f'fill="{_colour(number)}"/><text x="{x + SWATCH + 4:g}" y="{y + SWATCH / 2:g}" dy="0.35em">'
            f'{escape(name)}</text></g>'
        )
        x += width
    return f'<g class="legend">{"".join(items)}</g>', (row + 1) * LEGEND_ROW + 4


def _colour(number: int) -> str:
    return PALETTE[number % len(PALETTE)]


def _text_width(text: str) -> float:
    """Roughly: Chinese characters are a full em wide, Latin letters and digits about six tenths."""
    return sum(FONT_SIZE if ord(char) > 0x2E7F else FONT_SIZE * 0.6 for char in text)


def _fit(text: str, width: float) -> str:
    """The text, cut with "…" to fit ``width`` (the full text stays in a tooltip and the table)."""
    if _text_width(text) <= width:
        return text
    while text and _text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def format_number(value: float) -> str:
    """Whole numbers as such, others with one decimal (medians of an even count end in .5)."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
