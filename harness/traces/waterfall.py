"""One trace as a waterfall: its spans in tree order, each with its depth, offset and length."""

from __future__ import annotations

from dataclasses import dataclass

from harness.traces.spans import Span

BAR_WIDTH = 40


@dataclass(frozen=True)
class Row:
    span: Span
    depth: int
    offset_ms: float  # from the trace's first start
    duration_ms: float


def rows(trace: list[Span]) -> list[Row]:
    """Parents before children, siblings by start; a span whose parent was not collected (not
    sampled, or in a file not read) is drawn as a root."""
    ids = {span.span_id for span in trace}
    children: dict[str, list[Span]] = {}
    for span in trace:
        parent = span.parent_id if span.parent_id in ids else ""
        children.setdefault(parent, []).append(span)
    start = min(span.start_ns for span in trace)
    found: list[Row] = []

    def visit(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            found.append(Row(span, depth, (span.start_ns - start) / 1e6, span.duration_ms))
            visit(span.span_id, depth + 1)

    visit("", 0)
    return found


def total_ms(trace: list[Span]) -> float:
    return (max(s.end_ns for s in trace) - min(s.start_ns for s in trace)) / 1e6


def text(trace: list[Span], width: int = BAR_WIDTH) -> str:
    """The waterfall for a terminal: name (indented by depth), service, times, and a bar."""
    total = total_ms(trace) or 1e-9
    lines = [f"trace {trace[0].trace_id}  {total_ms(trace):.1f} ms  {len(trace)} spans"]
    for row in rows(trace):
        begin = round(row.offset_ms / total * width)
        length = max(1, round(row.duration_ms / total * width))
        bar = " " * begin + "█" * min(length, width - begin or 1)
        name = ("  " * row.depth + row.span.name)[:44]
        lines.append(
            f"{name:<44} {row.span.service:<12} {row.offset_ms:>8.1f} {row.duration_ms:>8.1f} ms"
            f"  |{bar:<{width}}|"
        )
    return "\n".join(lines)
