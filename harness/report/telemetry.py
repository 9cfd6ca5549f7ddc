"""The report's pattern telemetry: per style, each service's CPU and memory, circuit breakers,
retries, bulkhead rejections, faults injected and backlogs second by second while the load ran
(results.json's `telemetry`, harness/telemetry/sampler.py), with the faults shaded as on the
timelines. A panel in which nothing happened (no breaker ever left closed, no retry) is left
out: an empty chart says nothing."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from markupsafe import Markup

from harness.bench.results_telemetry_model import ServiceReading, Telemetry
from harness.report import charts, html
from harness.report.model import Run
from harness.report.series import Window, fault_windows
from harness.report.waterfalls import SERVICE_COLOURS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HOW_TO_READ: Final = (
    "What the services' resilience patterns did while each style's load ran, read from every "
    "service's /metrics and /proc once a second: CPU in cores and resident memory per service "
    "(a cross at 0: the service did not answer, crashed or paused); each circuit breaker "
    "(0 closed, 1 half-open, 2 open), by the service that holds it and the one it guards; "
    "retries, bulkhead rejections and faults injected per second; the outbox backlog (events "
    "not yet confirmed by the broker), the broker queue depth and the notifications owed; with "
    "several replicas per service, the requests each replica received per second and its share. "
    "Red bands are the faults, grey the warm-up; a panel in which nothing happened is left out."
)
PANEL_IN: Final = 1.9
COUNTERS: Final = ("retries", "bulkhead_rejections", "faults_injected")
BACKLOGS: Final = ("outbox_backlog", "queue_depth", "notifications_owed")
DASHES: Final = ("-", "--", ":")
STATE: Final = "breaker"

Line = tuple[str, str, list[float], str]  # label, colour, values (NaN: none), dash
Read = Callable[[ServiceReading], float | None]
Panel = tuple[str, str, list[Line]]  # title, y label, lines


@dataclass(frozen=True)
class StyleTelemetry:
    style: str
    telemetry: Telemetry
    faults: list[Window]
    warmup_s: float

    @property
    def times(self) -> list[float]:
        return [point.t for point in self.telemetry.series]

    def of(self, service: str, read: Read) -> list[float]:
        """One service's value at each point (NaN where it has none)."""
        values = []
        for point in self.telemetry.series:
            reading = point.services.get(service)
            value = None if reading is None else read(reading)
            values.append(math.nan if value is None else float(value))
        return values

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(s for point in self.telemetry.series for s in point.services))

    @property
    def replicas(self) -> dict[str, list[str]]:
        """Each service's replicas (`--replicas N`), by name; empty for a one-replica stack."""
        found: dict[str, dict[str, None]] = {}
        for point in self.telemetry.series:
            for service, readings in (point.replicas or {}).items():
                found.setdefault(service, {}).update(dict.fromkeys(readings))
        return {service: list(names) for service, names in found.items()}

    def of_replica(self, service: str, replica: str, read: Read) -> list[float]:
        """One replica's value at each point (NaN where it has none)."""
        values = []
        for point in self.telemetry.series:
            reading = (point.replicas or {}).get(service, {}).get(replica)
            value = None if reading is None else read(reading)
            values.append(math.nan if value is None else float(value))
        return values


def telemetry_charts(run: Run) -> list[Markup]:
    """One chart per style whose results hold telemetry (none for results written before)."""
    warmup_s = run.scenario.warmup_s if run.scenario else 0.0
    found = []
    for style, result in run.styles.items():
        if result.telemetry is not None:
            end = max((point.t for point in result.telemetry.series), default=0.0)
            faults = fault_windows(result.scenario.faults if result.scenario else [], end)
            found.append(StyleTelemetry(style, result.telemetry, faults, warmup_s))
    return [html.svg(drawn) for style in found if (drawn := chart(style))]


def chart(style: StyleTelemetry) -> str | None:
    """The style's panels, or None when there is nothing to draw."""
    panels = [panel for panel in _panels(style) if panel[2]]
    if not panels or not style.telemetry.series:
        return None

    def draw(figure: Figure) -> None:
        axes: Sequence[Axes] = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[
            :, 0
        ].tolist()
        for row, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
            _panel(ax, style, panel, row)
        axes[-1].set_xlabel("seconds from the start of the load")
        axes[-1].set_xlim(min(0.0, *style.times), max(max(style.times), 1.0))
        figure.suptitle(
            f"{style.style}: the patterns at work", fontweight="bold", x=0.01, ha="left"
        )

    return charts.render(draw, PANEL_IN * len(panels) + 0.5, f"telemetry-{style.style}")


def _panel(ax: Axes, style: StyleTelemetry, panel: Panel, row: int) -> None:
    title, unit, lines = panel
    states = unit == STATE
    for label, colour, values, dash in lines:
        drawn = "steps-post" if states else "default"  # a state holds until it changes
        # Markers too: a value between two missing ones (a short run's CPU) has no line.
        ax.plot(
            style.times,
            values,
            dash,
            color=colour,
            label=label,
            drawstyle=drawn,
            marker=".",
            markersize=4,
        )
    if states:
        ax.set_yticks([0, 1, 2], ["closed", "half-open", "open"])
    if row == 0:  # the crosses of a silent service go with the first panel's legend
        _not_answering(ax, style)
    ax.set_ylim(bottom=0, top=2.2 if states else None)
    ax.set_ylabel(unit)
    ax.set_title(title, loc="left", fontsize=10)
    charts.shade(
        ax, style.warmup_s, style.faults, f"telemetry-{style.style}-{row}", legend=row == 0
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _panels(style: StyleTelemetry) -> list[Panel]:
    return [
        ("CPU per service", "cores", _per_service(style, lambda r: r.cpu_cores)),
        ("resident memory per service", "MiB", _per_service(style, lambda r: r.rss_mb)),
        (
            "circuit breakers, by the service holding each and the one it guards",
            STATE,
            _breakers(style),
        ),
        ("retries, bulkhead rejections, faults injected", "per second", _counters(style)),
        ("outbox backlog, queue depth, notifications owed", "messages", _backlogs(style)),
        (
            "requests per replica (HTTP, gRPC, broker deliveries), with each one's share",
            "per second",
            replica_requests(style),
        ),
    ]


def _colour(service: str) -> str:
    return SERVICE_COLOURS.get(service, "#7f7f7f")


def _per_service(style: StyleTelemetry, read: Read) -> list[Line]:
    lines = [(s, _colour(s), style.of(s, read), "-") for s in style.services]
    return [line for line in lines if not all(math.isnan(v) for v in line[2])]


def _breakers(style: StyleTelemetry) -> list[Line]:
    lines = []
    for service in style.services:
        guarded = {
            target
            for point in style.telemetry.series
            if (reading := point.services.get(service)) and reading.breakers
            for target in reading.breakers
        }
        for index, target in enumerate(sorted(guarded)):
            values = style.of(service, _breaker(target))
            if any(v > 0 for v in values if not math.isnan(v)):
                dash = DASHES[index % len(DASHES)]
                lines.append((f"{service} → {target}", _colour(target), values, dash))
    return lines


def _counters(style: StyleTelemetry) -> list[Line]:
    lines = []
    for service in style.services:
        for index, name in enumerate(COUNTERS):
            totals = style.of(service, _named(name))
            rates = per_second(style.times, totals)
            if any(v > 0 for v in rates if not math.isnan(v)):
                label = f"{service}: {name.replace('_', ' ')}"
                lines.append((label, _colour(service), rates, DASHES[index]))
    return lines


def _backlogs(style: StyleTelemetry) -> list[Line]:
    lines = []
    for service in style.services:
        for index, name in enumerate(BACKLOGS):
            values = style.of(service, _named(name))
            if any(v > 0 for v in values if not math.isnan(v)):
                label = f"{service}: {name.replace('_', ' ')}"
                lines.append((label, _colour(service), values, DASHES[index]))
    return lines


def replica_requests(style: StyleTelemetry) -> list[Line]:
    """Each replica's requests per second, labelled with its share of its service's requests
    over the run: the spread the proxy, the gRPC client or the competing consumers made."""
    lines = []
    for service, names in style.replicas.items():
        totals = {name: style.of_replica(service, name, _requests) for name in names}
        served = {name: _increase(values) for name, values in totals.items()}
        whole = sum(served.values())
        if whole <= 0:
            continue
        for index, name in enumerate(names):
            label = f"{name}: {served[name] / whole:.0%}"
            rates = per_second(style.times, totals[name])
            lines.append((label, _colour(service), rates, DASHES[index % len(DASHES)]))
    return lines


def _requests(reading: ServiceReading) -> float | None:
    return None if reading.requests is None else float(sum(reading.requests.values()))


def _increase(totals: Sequence[float]) -> float:
    """How much a counter grew over the run (from 0 again after a restart, as per_second)."""
    known = [v for v in totals if not math.isnan(v)]
    grown = 0.0
    for before, after in itertools.pairwise(known):
        grown += after - before if after >= before else after
    return grown


def _named(name: str) -> Callable[[ServiceReading], float | None]:
    def read(reading: ServiceReading) -> float | None:
        value: Any = getattr(reading, name)
        return None if value is None else float(value)

    return read


def _breaker(target: str) -> Callable[[ServiceReading], float | None]:
    def read(reading: ServiceReading) -> float | None:
        return (reading.breakers or {}).get(target)

    return read


def per_second(times: Sequence[float], totals: Sequence[float]) -> list[float]:
    """A counter's increase per second between readings; a total that fell (the service
    restarted and counts from 0 again) counts from 0; NaN where either reading is missing."""
    rates = [math.nan]
    for (t0, before), (t1, after) in itertools.pairwise(zip(times, totals, strict=True)):
        if math.isnan(before) or math.isnan(after) or t1 <= t0:
            rates.append(math.nan)
            continue
        grown = after - before if after >= before else after
        rates.append(grown / (t1 - t0))
    return rates[: len(totals)]


def _not_answering(ax: Axes, style: StyleTelemetry) -> None:
    for service in style.services:
        silent = [
            point.t
            for point in style.telemetry.series
            if (reading := point.services.get(service)) is not None and not reading.answered
        ]
        if silent:
            ax.scatter(
                silent,
                [0.0] * len(silent),
                marker="x",
                color=_colour(service),
                label=f"{service}: not answering",
                zorder=3,
            )
