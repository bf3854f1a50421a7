"""An inline SVG bar chart of the traffic split per source cluster: no script, no external file.

One stacked bar per source shows where its calls went (one colour per version, failed calls in
dark red); a thin bar under it shows the replica-weighted split the checks expect, so a missing or
shrunken segment is visible at a glance, and the versions a source never reached are named to the
right of its bar. Each segment carries a <title> tooltip with the numbers. Beyond a handful of
versions, eight colours cannot tell twenty apart: the versions that most deserve a look (never
reached, then furthest from their expected share; TrafficMatrix.notable) keep a colour each and
the rest share one grey segment, in the observed and in the expected bar alike. The report stays
self-contained and renders the same with scripts blocked.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from meshconform.report.matrix import Row, TrafficMatrix

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7")
ERROR_COLOUR = "#b2182b"
OTHERS_COLOUR = "#bab0ac"
LABEL_WIDTH = 120
BAR_WIDTH = 480
NOTE_WIDTH = 380  # right of the bar: the versions this source never reached
WIDTH = LABEL_WIDTH + BAR_WIDTH + 12 + NOTE_WIDTH
ROW_HEIGHT = 44
BAR_HEIGHT = 22
EXPECTED_HEIGHT = 6
MIN_LABELLED = 44  # px: narrower segments show their version's name only
MIN_NAMED = 24  # px: narrower ones keep only their tooltip


def colours(versions: list[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}


@dataclass(frozen=True)
class Groups:
    """The versions drawn one by one (with their colours), and those drawn together as one."""

    shown: list[str]
    rest: list[str]

    @classmethod
    def of(cls, matrix: TrafficMatrix) -> Groups:
        shown = matrix.notable()
        return cls(shown, [v for v in matrix.versions() if v not in shown])

    def label(self) -> str:
        return f"{len(self.rest)} other versions together"

    def segments(self, counts: dict[str, float]) -> list[tuple[str, float]]:
        """(name, amount) per shown version, then one for the rest (if any)."""
        out = [(v, counts.get(v, 0.0)) for v in self.shown]
        return out + ([(self.label(), sum(counts.get(v, 0.0) for v in self.rest))] if self.rest else [])


def chart(matrix: TrafficMatrix) -> str:
    """The chart as an <svg> element, or an empty string when no calls were made."""
    if not matrix.rows:
        return ""
    groups = Groups.of(matrix)
    palette = {**colours(groups.shown), groups.label(): OTHERS_COLOUR}
    parts: list[str] = []
    for index, row in enumerate(matrix.rows):
        parts += _row(matrix, row, index * ROW_HEIGHT + 8, palette, groups)
    legend_y = len(matrix.rows) * ROW_HEIGHT + 14
    legend, height = _legend(matrix, groups, palette, legend_y)
    return (
        f'<svg class="meshconform-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="traffic split per source cluster" font-family="sans-serif" font-size="12">'
        f"<title>Where each source cluster's hello calls went (thin bar: expected split)</title>"
        + "".join(parts + legend)
        + "</svg>"
    )


def _row(matrix: TrafficMatrix, row: Row, y: int, palette: dict[str, str], groups: Groups) -> list[str]:
    out = [f'<text x="0" y="{y + 15}" font-weight="bold">from {escape(row.source)}</text>']
    total = row.answered + row.errors
    if total == 0:
        why = row.problem or "no call was answered"
        out.append(f'<text x="{LABEL_WIDTH}" y="{y + 15}" fill="{ERROR_COLOUR}">{escape(why[:90])}</text>')
        return out
    x = float(LABEL_WIDTH)
    counts = {v: float(n) for v, n in row.counts.items()}
    segments = [(v, n, palette[v]) for v, n in groups.segments(counts)]
    segments.append(("failed", float(row.errors), ERROR_COLOUR))
    for name, count, colour in segments:
        if count == 0:
            continue
        width = BAR_WIDTH * count / total
        label = name if name in ("failed", groups.label()) else f"{name} ({matrix.owner(name)})"
        tip = f"{label}: {count:.0f} of {total} calls ({100 * count / total:.0f}%)"
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        if width >= MIN_NAMED and name != groups.label():
            text = escape(name) + (f" {100 * count / total:.0f}%" if width >= MIN_LABELLED else "")
            out.append(f'<text x="{x + 3:.1f}" y="{y + 15}" fill="#fff">{text}</text>')
        x += width
    out += _expected(matrix, y + BAR_HEIGHT + 3, palette, groups)
    return out + _missed(matrix, row, y)


def _missed(matrix: TrafficMatrix, row: Row, y: int) -> list[str]:
    missed = [d.version for d in matrix.unreached(row)]
    if not missed:
        return []
    text = "never reached: " + ", ".join(missed)
    fits = NOTE_WIDTH // 7  # characters of 12 px sans-serif
    text = text if len(text) <= fits else text[: fits - 1] + "\u2026"
    tip = ", ".join(f"{v} ({matrix.owner(v)})" for v in missed)
    x = LABEL_WIDTH + BAR_WIDTH + 12
    return [
        f'<text class="mc-missed" x="{x}" y="{y + 15}" fill="{ERROR_COLOUR}" font-weight="bold">'
        f"<title>never reached: {escape(tip)}</title>{escape(text)}</text>"
    ]


def _expected(matrix: TrafficMatrix, y: int, palette: dict[str, str], groups: Groups) -> list[str]:
    out: list[str] = []
    x = float(LABEL_WIDTH)
    shares = {d.version: d.expected for d in matrix.destinations}
    for name, share in groups.segments(shares):
        width = BAR_WIDTH * share
        if width <= 0:
            continue
        owner = "" if name == groups.label() else f" ({matrix.owner(name)})"
        tip = f"expected {name}{owner}: {100 * share:.0f}% (replica-weighted)"
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{EXPECTED_HEIGHT}" '
            f'fill="{palette.get(name, "#999")}" opacity="0.45"><title>{escape(tip)}</title></rect>'
        )
        x += width
    return out


def _legend(matrix: TrafficMatrix, groups: Groups, palette: dict[str, str], y: int) -> tuple[list[str], int]:
    """The legend's elements, wrapped to the chart's width, and the chart's height below it."""
    out: list[str] = []
    entries = [(f"{v} ({matrix.owner(v)})", palette[v]) for v in groups.shown]
    entries += [(groups.label(), OTHERS_COLOUR)] if groups.rest else []
    x = float(LABEL_WIDTH)
    for text, colour in [*entries, ("failed", ERROR_COLOUR)]:
        step = 14 + 6.5 * len(text) + 16  # about 6.5 px a character at 12 px
        if x + step > WIDTH and x > LABEL_WIDTH:
            x, y = float(LABEL_WIDTH), y + 18
        out.append(f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y + 9}">{escape(text)}</text>')
        x += step
    return out, y + 22
