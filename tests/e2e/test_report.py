"""report.html as a reader sees it: rendered by a real browser (Debian's headless Chromium),
screenshotted and its DOM dumped, to check that the page draws (not blank, the right size), that
a broken invariant shows in red, and that every table and chart made it into the page.

Chromium is required: `make test` installs it (`make browser`); without it this fails, saying so.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from harness.report import write_report
from tests.unit.report_documents import (
    T0,
    load_samples,
    plain_document,
    scenario_document,
    scenario_samples,
    telemetry_section,
    write_folder,
)
from tests.unit.trace_files import TraceFiles

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 2000
BAD = (0xF8, 0xD7, 0xDA)  # td.bad and the verdict's background (base.html.j2)
OK = (0xD1, 0xE7, 0xDD)  # a clean verdict's background
STYLES = ("rest", "broker")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the report's browser test needs Debian's chromium "
            "(`make browser` installs it: apt-get install --no-install-recommends chromium)"
        )
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",  # not the user's own profile
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def report_of(folder: Path, **counts: int) -> Path:
    samples = {style: scenario_samples(style) for style in STYLES}
    write_folder(folder, scenario_document("payment-outage", STYLES, **counts), samples)
    return write_report(folder).html


def screenshot(page: Path, tmp_path: Path) -> Image.Image:
    png = tmp_path / f"{page.parent.name}.png"
    chromium(
        tmp_path / "profile",
        f"--screenshot={png}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
    )
    return Image.open(png).convert("RGB")


def pixels_of(image: Image.Image, colour: tuple[int, int, int]) -> int:
    counts = {rgb: n for n, rgb in image.getcolors(maxcolors=WIDTH * HEIGHT) or []}
    return counts.get(colour, 0)


@pytest.mark.timeout(180)
def test_the_page_draws_and_a_broken_invariant_shows_in_red(tmp_path: Path) -> None:
    broken = screenshot(report_of(tmp_path / "broken", lost=2, stuck=1), tmp_path)
    assert broken.size == (WIDTH, HEIGHT)
    colours = broken.getcolors(maxcolors=WIDTH * HEIGHT) or []
    assert len(colours) > 200, f"only {len(colours)} colours: a blank page?"
    white = max(colours)[0] / (WIDTH * HEIGHT)
    assert white < 0.95, f"{white:.0%} of the page is one colour: nothing drawn?"
    assert pixels_of(broken, BAD) > 2000, "no red highlight for lost and stuck orders"
    assert pixels_of(broken, OK) == 0

    clean = screenshot(report_of(tmp_path / "clean"), tmp_path)
    assert pixels_of(clean, BAD) == 0, "a clean audit must not show red"
    assert pixels_of(clean, OK) > 2000, "the clean audit's verdict is not shown in green"


@pytest.mark.timeout(120)
def test_every_table_and_chart_is_in_the_rendered_page(tmp_path: Path) -> None:
    page = report_of(tmp_path / "run", lost=2)
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert dom.count("<svg") == 1 + len(STYLES)  # the bars, then one timeline per style
    sections = re.findall(r'<section id="([^"]+)"', dom)
    tables = re.findall(r"<table>", dom)
    assert {"side-by-side", "audit", "isolation", "phases", "timelines"} <= set(sections)
    assert len(tables) == len(set(sections) - {"run", "bars", "timelines"})
    audit = dom[dom.index('<section id="audit">') :]
    audit = audit[: audit.index("</section>")]
    assert re.findall(r'<td class="num bad">([^<]*)</td>', audit) == ["2!"]
    # The fault window was drawn, in every panel of every style's chart.
    assert len(re.findall(r'<g id="fault-(?:rest|broker)-\d-0">', dom)) == 3 * len(STYLES)


@pytest.mark.timeout(120)
def test_a_traced_run_shows_each_styles_waterfalls_and_the_breakdown(tmp_path: Path) -> None:
    folder = tmp_path / "traced"
    write_folder(folder, plain_document(("rest",)), {"rest": load_samples()})
    files = TraceFiles(folder / "traces")
    for n in range(20):
        files.order(f"order-{n}", T0 + 1 + n / 10, order_ms=20 + n, inventory_ms=5)
    files.close()
    page = write_report(folder).html
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    waterfalls = dom[dom.index('<section id="waterfalls">') :]
    waterfalls = waterfalls[: waterfalls.index("</section>")]
    assert waterfalls.count("<svg") == 1  # one figure per style: typical and slow panels
    assert "rest: typical order, 29.0 ms" in waterfalls
    assert "rest: slow (p99) order, 39.0 ms" in waterfalls
    assert "saga reserve (order)" in waterfalls and "POST /reservations (inventory)" in waterfalls
    breakdown = dom[dom.index('<section id="trace-breakdown">') :]
    assert "inventory (own work)" in breakdown[: breakdown.index("</section>")]


@pytest.mark.timeout(120)
def test_a_scenarios_telemetry_is_plotted_with_the_fault_and_an_order_traced_during_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "scenario"
    document = scenario_document("payment-outage", STYLES)
    for result in document["styles"].values():
        result["telemetry"] = telemetry_section()
    write_folder(folder, document, {style: scenario_samples(style) for style in STYLES})
    files = TraceFiles(folder / "traces")
    for second in range(1, 12):  # the order at 5 s, in the fault, waits longest
        files.order(f"order-{second}", T0 + second + 0.2, 900 if second == 5 else 30, 5)
    files.close()
    page = write_report(folder).html
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout

    telemetry = section(dom, "telemetry")
    assert telemetry.count("<svg") == len(STYLES)
    for title in ("CPU per service", "resident memory", "circuit breakers", "retries"):
        assert title in telemetry
    assert "order → payment" in telemetry and "payment: not answering" in telemetry
    assert "order: outbox backlog" in telemetry
    # The fault is shaded in each of the five panels of each style's chart.
    assert len(re.findall(r'<g id="fault-telemetry-(?:rest|broker)-\d-0">', telemetry)) == 10

    during = section(dom, "fault-traces")
    assert during.count("<svg") == 1  # the stack's traces fall in rest's window (same times)
    assert "rest: an order begun at 5.2 s, through 'payment crash at 4s for 3s', 900.0 ms" in during


def section(dom: str, key: str) -> str:
    found = dom[dom.index(f'<section id="{key}">') :]
    return found[: found.index("</section>")]
