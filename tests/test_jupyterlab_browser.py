"""JupyterLab in a real browser: the way a learner meets these notebooks.

Starts JupyterLab from this environment on 127.0.0.1 with a random token, opens notebooks in
headless Chromium (Debian's ``chromium``, driven by Playwright; no browser is downloaded),
runs all cells through the Run menu, and checks what a learner would see: no error output,
every plot rendered as an image, every widget drawn. Screenshots go to ``outputs/browser/``.

The notebooks are opened in place, so autosave is switched off through a throwaway settings
folder, and the test checks that the files on disk did not change.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from helpers.checkpoints import NoTrainedModelError, load_run
from helpers.paths import OUTPUTS, REPO_ROOT

pytestmark = pytest.mark.system

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags for a closed network, as root, without a display: without the background-networking
# ones Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVER_START_TIMEOUT_S = 90
NOTEBOOK_RUN_TIMEOUT_S = 600  # 05 loads a model; 2 busy cores can be slow
DRAW_TIMEOUT_S = 30
NOTEBOOK_MODEL_DIR = "outputs/runs/notebook"  # what 05 samples from (04's default output_dir)
SCREENSHOTS = OUTPUTS / "browser"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def _die_with_parent() -> None:
    """In the server's process: Linux sends it SIGTERM when the test process dies, however
    it dies (a finally block does not run when pytest itself is killed)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(process: subprocess.Popen) -> None:
    """Stop a process and everything in its session (the server's kernels too)."""
    for sig, wait_s in ((15, 20), (9, 20)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def notebook_model():
    """05 samples from 04's model; train it with 04's defaults when there is none yet."""
    try:
        load_run(REPO_ROOT / NOTEBOOK_MODEL_DIR)
        return
    except NoTrainedModelError:
        pass
    executed = OUTPUTS / "browser" / "04_training.executed.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar",
                    str(REPO_ROOT / "notebooks" / "04_training.ipynb"), str(executed),
                    "--cwd", str(REPO_ROOT / "notebooks"), "-p", "show_original", "False",
                    "-p", "show_overfitting", "False"],
                   check=True, timeout=1200, capture_output=True)
    load_run(REPO_ROOT / NOTEBOOK_MODEL_DIR)


@pytest.fixture(scope="module", autouse=True)
def chromium_present():
    """Without a browser the test is skipped, saying why; REQUIRE_BROWSER=1 makes it a failure.

    A fresh machine has no Chromium until someone installs it; `.ci/run` installs it and sets
    REQUIRE_BROWSER=1, so that CI cannot pass by skipping this test.
    """
    if Path(CHROMIUM).exists():
        return
    message = (f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does) or set "
               "CHROMIUM to a Chromium binary")
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} (REQUIRE_BROWSER=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1; always shut down, its log shown when a test fails."""
    home = tmp_path_factory.mktemp("jupyter")
    settings = home / "settings" / "@jupyterlab"
    # Opened in place, so the notebooks must not be saved behind our back.
    (settings / "docmanager-extension").mkdir(parents=True)
    (settings / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"autosave": False}))
    # No news pop-up over the notebook, and no requests to the internet.
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), os.urandom(16).hex()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / "config"), PYTHONUNBUFFERED="1")
    log = home / "server.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={REPO_ROOT}", "--ServerApp.port_retries=0",
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:  # CI containers run as root; Jupyter refuses that unless told
        command.append("--allow-root")
    with open(log, "wb") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True, preexec_fn=_die_with_parent)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S} s:"
                                f"\n{_tail(log)}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "log": log}
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# Every script below finds the notebook by its path among JupyterLab's open documents, never
# as "the current tab": a restored workspace may open or focus other tabs at any moment.
PANEL_JS = """const panelFor = path => [...window.jupyterapp.shell.widgets('main')]
    .find(w => w.context && w.context.path === path && w.content && w.sessionContext);
const kernelOf = panel => panel && panel.sessionContext.session
    && panel.sessionContext.session.kernel;"""

OPEN_AND_IDLE_JS = "(path) => {" + PANEL_JS + """
  if (!window.jupyterapp) return false;
  const panel = panelFor(path), kernel = kernelOf(panel);
  return Boolean(panel && panel.sessionContext.isReady && kernel && kernel.status === 'idle');
}"""

ACTIVATE_JS = "(path) => {" + PANEL_JS + """
  const panel = panelFor(path);
  window.jupyterapp.shell.activateById(panel.id);
  return window.jupyterapp.shell.currentWidget === panel;
}"""

ALL_CELLS_RAN_JS = "(path) => {" + PANEL_JS + """
  const panel = panelFor(path), kernel = kernelOf(panel);
  if (!kernel || kernel.status !== 'idle') return false;
  for (const cell of panel.content.model.cells)
    if (cell.type === 'code' && cell.sharedModel.source.trim() && !cell.executionCount)
      return false;
  return true;
}"""

DRAWN_JS = "(path) => {" + PANEL_JS + """
  const node = panelFor(path).node;
  const images = [...node.querySelectorAll('.jp-RenderedImage img')];
  return images.every(img => img.complete && img.naturalWidth > 0)
      && !/Loading widget/.test(node.innerText);
}"""

# The notebook's own model, as JupyterLab holds it (each code cell's count and outputs), and
# what the page drew for it.
STATE_JS = "(path) => {" + PANEL_JS + """
  const panel = panelFor(path), node = panel.node;
  const cells = [];
  for (const cell of panel.content.model.cells)
    if (cell.type === 'code')
      cells.push({count: cell.executionCount, outputs: cell.outputs.toJSON()});
  const images = [...node.querySelectorAll('.jp-RenderedImage img')];
  return {cells: cells, rendered: {
    images: images.length,
    drawn_images: images.filter(img => img.complete && img.naturalWidth > 0).length,
    widgets: node.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
    widget_errors: [...node.querySelectorAll('.jp-OutputArea-output')]
        .filter(el => /Error displaying widget|Loading widget/.test(el.innerText)).length,
    error_nodes: node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]').length,
  }};
}"""


def _wait_for(page, predicate_js, path, timeout_s, what):
    try:
        page.wait_for_function(predicate_js, arg=path, timeout=timeout_s * 1000, polling=500)
    except PlaywrightTimeout as exc:  # say what we were waiting for
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from exc


def _run_in_jupyterlab(browser, server, notebook: str) -> tuple[dict, dict]:
    """Open a notebook, Run > Run All Cells, wait for the kernel; return model and page state."""
    path, stem = f"notebooks/{notebook}", Path(notebook).stem
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page_errors = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        # A workspace of its own, reset: no tabs restored from the previous notebook's page.
        page.goto(f"{server['base']}/lab/workspaces/{stem}/tree/{path}"
                  f"?reset&token={server['token']}", timeout=120_000)
        _wait_for(page, OPEN_AND_IDLE_JS, path, 180, f"{notebook} to open with an idle kernel")
        _wait_for(page, ACTIVATE_JS, path, 30, f"{notebook} to be the current tab")
        # Through the menu bar, as a learner would.
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        _wait_for(page, ALL_CELLS_RAN_JS, path, NOTEBOOK_RUN_TIMEOUT_S,
                  f"every cell of {notebook} to run")
        # Outputs arrive before they are drawn: give images and widget views time to finish.
        # No failure here; the assertions on what was drawn say what is missing.
        try:
            page.wait_for_function(DRAWN_JS, arg=path, timeout=DRAW_TIMEOUT_S * 1000,
                                   polling=250)
        except PlaywrightTimeout:
            pass
        state = page.evaluate(STATE_JS, path)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"), full_page=True)
        state["rendered"]["page_errors"] = page_errors
        return state, state.pop("rendered")
    finally:
        page.close()


def _outputs(state, kind):
    return [out for cell in state["cells"] for out in cell["outputs"] if kind(out)]


@pytest.mark.parametrize("notebook, min_images, min_widgets", [
    ("01_data_loading.ipynb", 1, 0),
    ("05_sampling.ipynb", 1, 1),
])
def test_notebook_runs_in_jupyterlab_in_chromium(notebook_model, jupyterlab, browser, notebook,
                                                min_images, min_widgets):
    path = REPO_ROOT / "notebooks" / notebook
    before = _sha256(path)
    state, rendered = _run_in_jupyterlab(browser, jupyterlab, notebook)

    errors = _outputs(state, lambda out: out["output_type"] == "error")
    assert not errors, (f"{notebook} raised in JupyterLab: "
                        + "; ".join(f"{e['ename']}: {e['evalue']}" for e in errors))
    assert rendered["error_nodes"] == 0
    assert all(cell["count"] for cell in state["cells"])

    pngs = _outputs(state, lambda out: "image/png" in out.get("data", {}))
    assert len(pngs) >= min_images, f"{notebook}: {len(pngs)} plots, expected {min_images}+"
    assert rendered["images"] >= len(pngs) and rendered["drawn_images"] == rendered["images"], (
        f"{notebook}: {rendered['drawn_images']} of {rendered['images']} images drawn "
        f"for {len(pngs)} plots")

    views = _outputs(state, lambda out: "application/vnd.jupyter.widget-view+json"
                     in out.get("data", {}))
    assert len(views) >= min_widgets
    if views:
        assert rendered["widgets"] >= 1 and rendered["widget_errors"] == 0, (
            f"{notebook}: widgets not drawn ({rendered})")
    assert not rendered["page_errors"], rendered["page_errors"]
    assert (SCREENSHOTS / f"{Path(notebook).stem}.png").stat().st_size > 10_000
    assert _sha256(path) == before, f"{notebook} on disk was changed by the browser run"
    assert "Traceback" not in jupyterlab["log"].read_text(errors="replace"), (
        _tail(jupyterlab["log"]))

