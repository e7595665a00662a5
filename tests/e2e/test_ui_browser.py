"""The Dagster UI as a person uses it: a real Chromium, driven by Playwright, against
``dagster-webserver`` and ``dagster-daemon`` on a fresh instance holding the three sample
projects.

The test opens the ``consolidation`` group's asset graph, clicks "Materialize all", picks one
project in the launch dialog and launches; the daemon runs it. It then reads the phase metrics
on the asset's page for that project. Screenshots of the graph and of the asset page land in
``test-results/ui/``, and a failed step leaves ``failure.png`` there, taken at that moment.

Debian's ``chromium`` is the browser (Playwright's own browser download is not reachable from
here): without ``/usr/bin/chromium`` the test skips, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.services import ASSETS, Services, wait_for
from tests.helpers import REPO, SAMPLE_DATA

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = REPO / "test-results" / "ui"
PROJECT = "mobile-app"
SAMPLE_PROJECTS = sorted(path.stem for path in SAMPLE_DATA.glob("*.jsonl"))
GROUP_GRAPH = "/locations/consolidation/asset-groups/consolidation/lineage"
VIEWPORT = {"width": 1600, "height": 1000}
# Two cores serve the webserver, the daemon, the run and the browser at once: pages can be slow.
UI_TIMEOUT_MS = 60_000
RUN_DEADLINE = 600
RUNS = """{
  runsOrError {
    ... on Runs {
      results { runId status assetSelection { path } tags { key value } }
    }
  }
}"""


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; a missing browser skips the test locally and fails it in CI."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the browser test: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """The webserver and the daemon over the three sample projects, with every automatic
    trigger held back so that the only run is the one the test launches from the UI."""
    running = Services(
        tmp_path,
        f"sqlite:///{tmp_path / 'memories.db'}",
        None,
        env={
            "CONSOLIDATION_RUN_THRESHOLD": "1000000",
        },
    )
    # A fresh instance greets its first visitor with Dagster's "Join the Dagster community"
    # dialog, whenever its query answers: once it opened under the launch dialog, and its Skip
    # button could not be clicked. The instance is marked as having shown it, as after a
    # user's first visit, so the test meets only the project's own UI.
    seen = running.home / ".nux" / "nux.yaml"
    seen.parent.mkdir(parents=True, exist_ok=True)
    seen.write_text("seen: 1\n")
    try:
        running.cli("load-samples")
        running.start_webserver_and_daemon()
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def page(browser: Browser, services: Services) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=f"http://127.0.0.1:{services.port}")
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
        expect.set_options(timeout=None)


class DagsterUI:
    """The pages and controls the test uses, and what it does when one of them fails.

    Each step runs inside ``step``: a failure there becomes one message naming the step, with a
    screenshot of the page at that moment and the tail of the services' logs.
    """

    def __init__(self, page: Page, services: Services) -> None:
        self.page = page
        self.services = services

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        try:
            yield
        except (PlaywrightError, AssertionError, pytest.fail.Exception) as exc:
            shot = SHOTS / "failure.png"
            try:
                self.page.screenshot(path=shot)
                saved = f"screenshot of the moment: {shot}"
            except PlaywrightError as shot_error:
                saved = f"no screenshot ({shot_error})"
            logs = "" if isinstance(exc, pytest.fail.Exception) else self.services.log_tail()
            pytest.fail(f"UI step failed: {what}\n{exc}\n{saved}\n{logs}", pytrace=False)

    def open_graph(self) -> None:
        self.page.goto(GROUP_GRAPH)

    def asset_node(self, asset: str) -> Locator:
        """An asset's node in the lineage graph, which draws each node in a foreignObject."""
        graph_nodes = self.page.locator("svg foreignObject")
        return graph_nodes.filter(has=self.page.get_by_text(asset, exact=True))

    def wait_for_graph(self, materialized: bool) -> None:
        """Every asset of the four drawn in full inside the window (a fifth node, such as an
        upstream source, may be there too), with the partition fill once a run has landed."""
        for asset in ASSETS:
            node = self.asset_node(asset)
            expect(node).to_have_count(1)
            partitions = f"{len(SAMPLE_PROJECTS)} partitions"
            expect(node.get_by_text(partitions, exact=True)).to_be_visible()
            if materialized:
                expect(node.get_by_text(re.compile(r"^[1-9]\d*% filled$"))).to_be_visible()
        expect(self.page.locator("svg foreignObject").get_by_role("progressbar")).to_have_count(0)
        for asset in ASSETS:
            box = self.asset_node(asset).bounding_box()
            assert box is not None, f"{asset}'s node is not drawn"
            assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], (asset, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (asset, box)

    def launch_dialog(self) -> Locator:
        """The launch dialog of "Materialize all", which must cover the four assets: an
        observed upstream node in the group is not materializable and stays out."""
        self.page.get_by_role("button", name="Materialize all").click()
        dialog = self.page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
        expect(dialog).to_contain_text(f"Launch runs to materialize {len(ASSETS)} assets")
        return dialog

    def choose_only_partition(self, dialog: Locator, project: str) -> None:
        """Select ``project`` and nothing else, whatever the dialog selected by default."""
        dialog.get_by_role("button", name="Custom", exact=True).click()
        dialog.get_by_role("img", name="expand_more").click()
        choices = dialog.get_by_role("menuitem").filter(has=self.page.get_by_role("checkbox"))
        partitions = choices.filter(has_not_text=re.compile(r"^Select all"))
        expect(partitions.filter(has=self.page.get_by_text(project, exact=True))).to_have_count(1)
        for item in partitions.all():
            # Each item renders its partition's name twice, so any match marks the item.
            wanted = item.get_by_text(project, exact=True).count() > 0
            if item.get_by_role("checkbox").is_checked() != wanted:
                item.click()
            expect(item.get_by_role("checkbox")).to_be_checked(checked=wanted)
        filter_box = dialog.get_by_placeholder("Filter partitions")
        dialog.get_by_text("Launch runs to materialize").click()
        expect(filter_box).to_be_hidden()
        count = dialog.get_by_text(re.compile(r"^\d+ partitions?$"))
        expect(count).to_have_text("1 partition")

    def launch_one_run(self, dialog: Locator) -> str:
        """Launch and return the run id prefix the UI's toast announces."""
        dialog.get_by_role("button", name="Launch 1 run", exact=True).click()
        toast = self.page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
        expect(toast).to_be_visible()
        return re.search(r"Launched run ([0-9a-f]{8})", toast.inner_text()).group(1)

    def metadata_value(self, key: str) -> Locator:
        """The value cell of a metadata key in the materialization's metadata table."""
        row = self.page.get_by_role("row").filter(
            has=self.page.get_by_role("cell", name=key, exact=True)
        )
        return row.get_by_role("cell").nth(1)


def all_runs(services: Services) -> list[dict]:
    return services.graphql(RUNS)["runsOrError"]["results"]


def tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def sample_size(project: str) -> int:
    lines = (SAMPLE_DATA / f"{project}.jsonl").read_text().splitlines()
    return sum(1 for line in lines if line.strip())


def test_materialize_one_project_from_the_asset_graph(page: Page, services: Services) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "failure.png").unlink(missing_ok=True)
    ui = DagsterUI(page, services)

    with ui.step("open the consolidation group's asset graph"):
        ui.open_graph()
        ui.wait_for_graph(materialized=False)

    with ui.step(f"materialize all for {PROJECT} through the launch dialog"):
        dialog = ui.launch_dialog()
        ui.choose_only_partition(dialog, PROJECT)
        prefix = ui.launch_one_run(dialog)

    with ui.step(f"wait for run {prefix} to succeed"):
        (run,) = [r for r in all_runs(services) if r["runId"].startswith(prefix)]
        page.goto(f"/runs/{run['runId']}")

        def finished() -> dict | None:
            (current,) = [r for r in all_runs(services) if r["runId"] == run["runId"]]
            return current if current["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

        done = wait_for(f"run {prefix} to finish", finished, services, RUN_DEADLINE)
        assert done["status"] == "SUCCESS", done
        assert tag(done, "dagster/partition") == PROJECT, done["tags"]
        assert sorted(key["path"][0] for key in done["assetSelection"]) == sorted(ASSETS), done
        assert [r["runId"] for r in all_runs(services)] == [run["runId"]], (
            "the sensor or the schedule launched runs of their own"
        )

    with ui.step("see the materialized graph"):
        ui.open_graph()
        ui.wait_for_graph(materialized=True)
        page.screenshot(path=SHOTS / "asset-graph.png")

    with ui.step(f"read the phase metrics on patterns' page for {PROJECT}"):
        page.goto(f"/assets/patterns?view=partitions&partition={PROJECT}")
        expect(page.get_by_text("Materialized", exact=True)).to_be_visible()
        expect(ui.metadata_value("memories_processed")).to_have_text(str(sample_size(PROJECT)))
        expect(ui.metadata_value("patterns_extracted")).to_have_text(re.compile(r"^[1-9]\d*$"))
        page.screenshot(path=SHOTS / "asset-page.png")
