"""An inline SVG bar chart of the traffic split per source cluster: no script, no external file.

One stacked bar per source shows where its calls went (one colour per version, failed calls in
dark red); a thin bar under it shows the replica-weighted split the checks expect, so a missing or
shrunken segment is visible at a glance. Each segment carries a <title> tooltip with the numbers.
The report stays self-contained and renders the same with scripts blocked.
"""

from __future__ import annotations

from html import escape

from meshconform.report.matrix import Row, TrafficMatrix

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7")
ERROR_COLOUR = "#b2182b"
LABEL_WIDTH = 120
BAR_WIDTH = 480
ROW_HEIGHT = 44
BAR_HEIGHT = 22
EXPECTED_HEIGHT = 6
MIN_LABELLED = 44  # px: narrower segments keep only their tooltip


def colours(versions: list[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}


def chart(matrix: TrafficMatrix) -> str:
    """The chart as an <svg> element, or an empty string when no calls were made."""
    if not matrix.rows:
        return ""
    versions = matrix.versions()
    palette = colours(versions)
    parts: list[str] = []
    for index, row in enumerate(matrix.rows):
        parts += _row(matrix, row, index * ROW_HEIGHT + 8, palette)
    legend_y = len(matrix.rows) * ROW_HEIGHT + 14
    parts += _legend(matrix, versions, palette, legend_y)
    height = legend_y + 22
    width = LABEL_WIDTH + BAR_WIDTH + 20
    return (
        f'<svg class="meshconform-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="traffic split per source cluster" font-family="sans-serif" font-size="12">'
        f"<title>Where each source cluster's hello calls went (thin bar: expected split)</title>"
        + "".join(parts)
        + "</svg>"
    )


def _row(matrix: TrafficMatrix, row: Row, y: int, palette: dict[str, str]) -> list[str]:
    out = [f'<text x="0" y="{y + 15}" font-weight="bold">from {escape(row.source)}</text>']
    total = row.answered + row.errors
    if total == 0:
        why = row.problem or "no call was answered"
        out.append(f'<text x="{LABEL_WIDTH}" y="{y + 15}" fill="{ERROR_COLOUR}">{escape(why[:90])}</text>')
        return out
    x = float(LABEL_WIDTH)
    segments = [(v, row.counts.get(v, 0), palette[v]) for v in matrix.versions()]
    segments.append(("failed", row.errors, ERROR_COLOUR))
    for name, count, colour in segments:
        if count == 0:
            continue
        width = BAR_WIDTH * count / total
        label = name if name == "failed" else f"{name} ({matrix.owner(name)})"
        tip = f"{label}: {count} of {total} calls ({100 * count / total:.0f}%)"
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        if width >= MIN_LABELLED:
            text = f"{escape(name)} {100 * count / total:.0f}%"
            out.append(f'<text x="{x + 4:.1f}" y="{y + 15}" fill="#fff">{text}</text>')
        x += width
    out += _expected(matrix, y + BAR_HEIGHT + 3, palette)
    return out


def _expected(matrix: TrafficMatrix, y: int, palette: dict[str, str]) -> list[str]:
    out: list[str] = []
    x = float(LABEL_WIDTH)
    for d in matrix.destinations:
        width = BAR_WIDTH * d.expected
        tip = f"expected {d.version} ({d.cluster}): {100 * d.expected:.0f}% (replica-weighted)"
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{EXPECTED_HEIGHT}" '
            f'fill="{palette.get(d.version, "#999")}" opacity="0.45"><title>{escape(tip)}</title></rect>'
        )
        x += width
    return out


def _legend(matrix: TrafficMatrix, versions: list[str], palette: dict[str, str], y: int) -> list[str]:
    out: list[str] = []
    x = float(LABEL_WIDTH)
    entries = [(f"{v} ({matrix.owner(v)})", palette[v]) for v in versions] + [("failed", ERROR_COLOUR)]
    for text, colour in entries:
        out.append(f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y + 9}">{escape(text)}</text>')
        x += 14 + 7 * len(text) + 16
    return out
