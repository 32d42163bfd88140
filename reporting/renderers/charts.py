"""Bar, line and pie charts as SVG text, for the HTML and PDF layouts.

Built as an ElementTree and serialised, so labels from the data are always escaped. Every
bar, point and slice carries a <title> with its label and value (a tooltip in a browser).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from reporting.tables import Chart

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 32, 40  # room for the axes' labels and the legend
PALETTE = (  # after the organisation's colour; with it, one colour per pie slice
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#9c755f",
    "#bab0ac",
)
MAX_BARS = 100  # categories drawn; a note says when there were more
MAX_MARKERS = 100  # a line chart marks (and titles) each point only up to this many
MAX_SLICES = 9  # the largest slices; the rest are summed as "Other"
LABEL_CHARS = 14
CHAR_WIDTH = 6  # about, in the charts' 10-unit font: to space x labels so they never overlap
AXIS_COLOUR, GRID_COLOUR, TEXT_COLOUR = "#666666", "#dddddd", "#333333"

Series = dict[str, list[float | None]]


def chart_svg(
    chart: Chart, *, labels: Sequence[str], series: dict[str, list[Any]], first_colour: str
) -> str:
    """The chart as an <svg> element; `labels` are the x texts, `series` the y values by name."""
    draw = _DRAWERS.get(chart.type)
    if draw is None:
        raise ValueError(f"Chart {chart.title!r} has unknown type {chart.type!r}.")
    svg = Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "width": str(WIDTH),
            "height": str(HEIGHT),
            "viewBox": f"0 0 {WIDTH} {HEIGHT}",
            "class": f"chart chart-{chart.type}",
            "role": "img",
            "font-family": "sans-serif",
            "font-size": "10",
        },
    )
    SubElement(svg, "title").text = chart.title or ", ".join(series)
    numbers = {name: [_number(value) for value in values] for name, values in series.items()}
    draw(svg, list(labels), numbers, (first_colour, *PALETTE))
    return tostring(svg, encoding="unicode")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _draw_bars(svg: Element, labels: list[str], series: Series, colours: Sequence[str]) -> None:
    shown = min(len(labels), MAX_BARS)
    low, high = _value_range(series, shown)
    scale = _axes(svg, labels[:shown], low, high)
    group = (WIDTH - LEFT - RIGHT) / max(shown, 1)
    bar = group * 0.8 / max(len(series), 1)
    for number, (name, values) in enumerate(series.items()):
        colour = colours[number % len(colours)]
        for index in range(shown):
            value = values[index]
            if value is None:
                continue
            top, bottom = sorted((scale(value), scale(0.0)))
            rect = _add(
                svg,
                "rect",
                x=LEFT + index * group + group * 0.1 + number * bar,
                y=top,
                width=bar,
                height=max(bottom - top, 0.5),
                fill=colour,
            )
            SubElement(rect, "title").text = f"{labels[index]} · {name}: {_value_text(value)}"
    _legend(svg, list(series), colours)
    if shown < len(labels):
        _note(svg, f"First {shown:,} of {len(labels):,} categories")


def _draw_lines(svg: Element, labels: list[str], series: Series, colours: Sequence[str]) -> None:
    low, high = _value_range(series, len(labels))
    scale = _axes(svg, labels, low, high)
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for number, (name, values) in enumerate(series.items()):
        colour = colours[number % len(colours)]
        points = [
            (LEFT + (index + 0.5) * step, scale(value), index, value)
            for index, value in enumerate(values)
            if value is not None
        ]
        _add(
            svg,
            "polyline",
            points=" ".join(f"{x:.2f},{y:.2f}" for x, y, _, _ in points),
            fill="none",
            stroke=colour,
            **{"stroke-width": 2},
        )
        if len(labels) > MAX_MARKERS:
            continue
        for x, y, index, value in points:
            marker = _add(svg, "circle", cx=x, cy=y, r=3, fill=colour)
            SubElement(marker, "title").text = f"{labels[index]} · {name}: {_value_text(value)}"
    _legend(svg, list(series), colours)


def _draw_pie(svg: Element, labels: list[str], series: Series, colours: Sequence[str]) -> None:
    """The first y column, summed per label; negative and empty values are left out."""
    values = next(iter(series.values()), [])
    slices = _pie_slices(labels, values)
    total = sum(value for _, value in slices)
    centre_x, centre_y, radius = 150.0, HEIGHT / 2, HEIGHT / 2 - 20
    angle = -math.pi / 2
    for number, (label, value) in enumerate(slices):
        colour = colours[number % len(colours)]
        sweep = 2 * math.pi * value / total
        share = f"{label}: {_value_text(value)} ({100 * value / total:.1f}%)"
        if sweep >= 2 * math.pi - 1e-9:
            shape = _add(svg, "circle", cx=centre_x, cy=centre_y, r=radius, fill=colour)
        else:
            shape = _add(svg, "path", d=_arc(centre_x, centre_y, radius, angle, sweep), fill=colour)
        SubElement(shape, "title").text = share
        _legend_entry(svg, 320, 30 + number * 22, colour, share)
        angle += sweep
    if not slices:
        _note(svg, "No positive values to show")


def _pie_slices(labels: list[str], values: list[float | None]) -> list[tuple[str, float]]:
    sums: dict[str, float] = {}
    for label, value in zip(labels, values, strict=False):
        if value is not None and value > 0:
            sums[label] = sums.get(label, 0.0) + value
    ranked = sorted(sums.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) <= MAX_SLICES + 1:
        return ranked
    other = sum(value for _, value in ranked[MAX_SLICES:])
    return [*ranked[:MAX_SLICES], ("Other", other)]


def _arc(centre_x: float, centre_y: float, radius: float, start: float, sweep: float) -> str:
    end = start + sweep
    x1, y1 = centre_x + radius * math.cos(start), centre_y + radius * math.sin(start)
    x2, y2 = centre_x + radius * math.cos(end), centre_y + radius * math.sin(end)
    large = 1 if sweep > math.pi else 0
    return (
        f"M{centre_x:.2f},{centre_y:.2f} L{x1:.2f},{y1:.2f} "
        f"A{radius:.2f},{radius:.2f} 0 {large} 1 {x2:.2f},{y2:.2f} Z"
    )


def _value_range(series: Series, count: int) -> tuple[float, float]:
    numbers = [value for values in series.values() for value in values[:count] if value is not None]
    low, high = min([0.0, *numbers]), max([0.0, *numbers])
    return (low, high) if high > low else (low, low + 1.0)


def _axes(svg: Element, labels: list[str], low: float, high: float) -> Callable[[float], float]:
    """Grid, value ticks and a sample of x labels; returns value → y coordinate."""
    ticks = _ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM

    def scale(value: float) -> float:
        return plot_bottom - (value - low) / (high - low) * (plot_bottom - plot_top)

    for tick in ticks:
        y = scale(tick)
        _add(svg, "line", x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y, stroke=GRID_COLOUR)
        _text(svg, _tick_text(tick), x=LEFT - 6, y=y + 3, anchor="end")
    _add(svg, "line", x1=LEFT, x2=LEFT, y1=plot_top, y2=plot_bottom, stroke=AXIS_COLOUR)
    _add(svg, "line", x1=LEFT, x2=WIDTH - RIGHT, y1=scale(0), y2=scale(0), stroke=AXIS_COLOUR)
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    texts = [text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…" for text in labels]
    widest = CHAR_WIDTH * max((len(text) for text in texts), default=0) + 2 * CHAR_WIDTH
    every = max(1, math.ceil(widest / step))
    for index in range(0, len(texts), every):
        _text(svg, texts[index], x=LEFT + (index + 0.5) * step, y=plot_bottom + 14, anchor="middle")
    return scale


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step)
    last = math.ceil(high / step)
    return [number * step for number in range(first, last + 1)]


def _legend(svg: Element, names: list[str], colours: Sequence[str]) -> None:
    x = LEFT
    for number, name in enumerate(names):
        _legend_entry(svg, x, 8, colours[number % len(colours)], name)
        x += 24 + 6 * min(len(name), 24)


def _legend_entry(svg: Element, x: float, y: float, colour: str, text: str) -> None:
    _add(svg, "rect", x=x, y=y, width=10, height=10, fill=colour)
    _text(svg, text, x=x + 14, y=y + 9, anchor="start")


def _note(svg: Element, text: str) -> None:
    _text(svg, text, x=WIDTH - RIGHT, y=HEIGHT - 4, anchor="end")


def _text(svg: Element, text: str, *, x: float, y: float, anchor: str) -> None:
    element = _add(svg, "text", x=x, y=y, fill=TEXT_COLOUR, **{"text-anchor": anchor})
    element.text = text


def _add(parent: Element, tag: str, **attributes: Any) -> Element:
    return SubElement(parent, tag, {name: _attribute(value) for name, value in attributes.items()})


def _attribute(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _value_text(value: float) -> str:
    return f"{value:,.15g}"


def _tick_text(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:,.0f}" if value == int(value) else f"{value:.3g}"


_DRAWERS = {"bar": _draw_bars, "line": _draw_lines, "pie": _draw_pie}
