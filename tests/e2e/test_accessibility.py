"""Accessibility in Chromium: axe-core on every public page and on the dispatcher console.

axe-core (npm, pinned in package.json, installed into node_modules/ by `npm ci`; .ci/run does it) is
injected into the page and into every frame (the maps draw in iframes), then run. A serious or
critical violation fails the test unless it comes from Streamlit's own markup, which no theme or
page of ours can change: those are allow-listed below by rule id and the Streamlit element they
sit in, each with the reason. The public pages are checked on a demo with its typhoon running (the
DEMO banner, warnings, outages appearing), as the public sees them in a storm; the dispatcher
console on the shared e2e server. Both languages, as every page has them.

Without axe-core or Chromium this skips on a developer's machine and fails in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import free_port, serve_demo, stop, wait_until_healthy
from tests.support.browser import missing

if TYPE_CHECKING:
    from playwright.sync_api import Frame, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT_MS = 60_000
BLOCKING = frozenset({"serious", "critical"})
LIVE_DEMO_LOG = pytest.StashKey[Path]()
# Screenshots of every page checked, for a person to look at: set to a folder to keep them.
SHOTS = os.environ.get("OUTAGE_A11Y_SCREENSHOTS", "")

# The status page is the app's default page, at its root.
PUBLIC_PAGES = {
    "status": "/",
    "check": "/check",
    "report": "/report",
    "feedback": "/feedback",
    "login": "/login",
}
LANGUAGES = {"en": "English", "zh": "简体中文"}


@dataclass(frozen=True)
class Allowed:
    """A violation Streamlit's own markup causes: `rule` on a node inside `inside` (a CSS selector)."""

    rule: str
    inside: str
    why: str


STREAMLIT_INTERNALS = (
    Allowed(
        "list",
        '[data-testid="stSidebarNav"]',
        "st.navigation draws each section's header as a <div> directly inside the <ul> of links",
    ),
    Allowed(
        "listitem",
        '[data-testid="stSidebarNav"]',
        "the same navigation: its <li> sit in a <div> (a section) inside the <ul>",
    ),
    Allowed(
        "svg-img-alt",
        '[data-testid="stVegaLiteChart"] g.role-mark:empty',
        "Vega, which draws Streamlit's charts, gives an empty mark group (st.line_chart's hover"
        " points, none until a pointer rests on the chart) the role graphics-symbol with no label;"
        " st.line_chart has no option to label or hide it",
    ),
    Allowed(
        "aria-dialog-name",
        '[data-testid="stToast"]',
        "st.toast's alertdialog points aria-labelledby at an id Streamlit never renders; the toast's"
        " text is ours and is read, its label is Streamlit's to give",
    ),
)

# Runs in the page: axe over the document and its frames, blocking violations kept, with the ones
# inside an allow-listed Streamlit element taken out.
RUN_AXE = """
async ([blocking, allowed]) => {
    // elementRef: each node keeps its element, even one gone by the time axe ends (a toast).
    const result = await axe.run(document, {iframes: true, elementRef: true, resultTypes: ['violations']});
    const found = [];
    for (const violation of result.violations) {
        if (!blocking.includes(violation.impact)) continue;
        for (const node of violation.nodes) {
            // Only a node of this document (not of a frame) may sit in an allow-listed Streamlit element.
            const element = node.element || null;
            const excused = element !== null && allowed.some(
                ([rule, inside]) => rule === violation.id && element.closest(inside) !== null);
            if (excused) continue;
            found.push({rule: violation.id, impact: violation.impact, target: JSON.stringify(node.target),
                        html: node.html.slice(0, 200), summary: node.failureSummary || ''});
        }
    }
    return found;
}
"""


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE.is_file():
        missing(f"{AXE} is missing: run `npm ci` in the checkout (package.json pins axe-core)")
    return AXE


@pytest.fixture(scope="module")
def live_demo_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[str]:
    """A demo with its background typhoon running, as the public sees it in a storm."""
    yield from serve_demo(
        tmp_path_factory.mktemp("live-demo"), {"OUTAGE_DEMO_SIMULATOR": "on"}, pytestconfig, LIVE_DEMO_LOG
    )


@pytest.fixture(scope="module")
def theme_swatch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tests/e2e/theme_swatch.py served with our Streamlit config beside it; its base URL."""
    folder = tmp_path_factory.mktemp("swatch")
    shutil.copy(ROOT / "tests" / "e2e" / "theme_swatch.py", folder / "swatch.py")
    (folder / ".streamlit").mkdir()
    shutil.copy(ROOT / "dashboard" / ".streamlit" / "config.toml", folder / ".streamlit" / "config.toml")
    port, log = free_port(), folder / "swatch.log"
    command = [sys.executable, "-m", "streamlit", "run", "swatch.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1"]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=folder, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, server, log)
        yield base_url
    finally:
        stop(server)


def settle(page: Page) -> None:
    """Wait until the page has drawn: its title, no request in flight, and any map in its frame."""
    page.locator("h1").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    for frame in page.frames[1:]:
        if frame.locator(".leaflet-container").count():
            frame.locator(".leaflet-container").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1_500)  # Streamlit finishes its layout after the last message


def switch_language(page: Page, language: str) -> None:
    if language == "en":
        return
    heading = page.locator("h1").first.inner_text()
    page.locator('[data-testid="stSidebar"]').get_by_text(LANGUAGES[language], exact=True).click()
    page.wait_for_function(
        "old => { const h = document.querySelector('h1'); return h && h.innerText !== old; }",
        arg=heading,
        timeout=TIMEOUT_MS,
    )
    settle(page)


def inject(frame: Frame, script: Path) -> None:
    # A frame that refuses scripts (sandboxed) cannot be checked; axe reports it as not tested.
    try:
        frame.add_script_tag(path=str(script))
    except Exception as error:  # Playwright's Error; imported only where Playwright is installed
        if "sandbox" not in str(error).lower() and "detached" not in str(error).lower():
            raise


def blocking_violations(page: Page, script: Path) -> list[dict[str, Any]]:
    for frame in page.frames:
        inject(frame, script)
    allowed = [[entry.rule, entry.inside] for entry in STREAMLIT_INTERNALS]
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE, [sorted(BLOCKING), allowed])
    return found


def describe(found: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"[{v['impact']}] {v['rule']} at {v['target']}\n    {v['html']}\n    {v['summary']}" for v in found
    )


def screenshot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def log_in_as_dispatcher(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login", wait_until="domcontentloaded")
    page.get_by_label("Username", exact=True).fill("dispatcher")
    page.get_by_label("Password", exact=True).fill("demo-dispatcher")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Signed in as dispatcher").wait_for(timeout=TIMEOUT_MS)


def test_every_themed_element_passes(theme_swatch: str, page: Page, axe_script: Path) -> None:
    """Status boxes, buttons, metrics, progress bars, captions and links in our theme."""
    page.goto(theme_swatch, wait_until="domcontentloaded")
    settle(page)
    page.get_by_text("A success box: an action done").wait_for(timeout=TIMEOUT_MS)

    found = blocking_violations(page, axe_script)

    assert not found, f"axe on the theme swatch:\n{describe(found)}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_page_has_no_serious_violation(
    live_demo_server: str,
    page: Page,
    external_requests: list[str],
    axe_script: Path,
    name: str,
    language: str,
) -> None:
    page.goto(f"{live_demo_server}{PUBLIC_PAGES[name]}", wait_until="domcontentloaded")
    settle(page)
    switch_language(page, language)
    screenshot(page, f"{name}-{language}")

    found = blocking_violations(page, axe_script)

    assert not found, f"axe on {name} ({language}):\n{describe(found)}"
    assert external_requests == []  # nothing from a CDN: the public may be on an isolated network too


@pytest.mark.parametrize("language", LANGUAGES)
def test_dispatcher_console_has_no_serious_violation(
    app_server: str, page: Page, external_requests: list[str], axe_script: Path, language: str
) -> None:
    log_in_as_dispatcher(page, app_server)
    page.get_by_role("link", name="Dispatcher console").click()
    page.get_by_role("heading", name="Dispatcher console").wait_for(timeout=TIMEOUT_MS)
    settle(page)
    switch_language(page, language)
    screenshot(page, f"dispatch-{language}")

    found = blocking_violations(page, axe_script)

    assert not found, f"axe on the dispatcher console ({language}):\n{describe(found)}"
    assert external_requests == []
