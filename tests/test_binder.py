"""Binder readiness, tested as far as a machine without a container engine allows.

mybinder.org (repo2docker) builds ``environment.yml`` and ignores ``requirements.txt``. So this
test does what it does, minus the container: copy the repository's files, create a fresh
virtual environment with the Python that ``environment.yml`` pins, install exactly its
``pip:`` section from the copy's root, and run the whole notebook suite with nbval in it. While
the notebooks run, the memory of the kernels and of everything else the run started is sampled,
and must stay under mybinder.org's 2 GB limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from helpers import data
from helpers.paths import REPO_ROOT

pytestmark = pytest.mark.system

BINDER_MEMORY_LIMIT = 2 * 1000**3  # mybinder.org's limit per user session: 2 GB
SAMPLE_EVERY_S = 0.1
INSTALL_TIMEOUT_S = 1500  # a first install downloads TensorFlow (~600 MB)
NOTEBOOKS_TIMEOUT_S = 1800


def _environment() -> dict:
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def _copy_of_repository(destination: Path) -> Path:
    """The files a clone of this repository would have (tracked or new, never ignored)."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO_ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        source = REPO_ROOT / name
        if source.is_file():  # a deleted but still tracked file is skipped
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    return destination


class MemorySampler:
    """Peak RSS of a process tree: of each kernel, and of the whole tree at any one time."""

    def __init__(self, root_pid: int):
        self.root = psutil.Process(root_pid)
        self.kernel_peak = 0
        self.tree_peak = 0
        self.kernels_seen = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self):
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    if "ipykernel_launcher" in " ".join(process.cmdline()):
                        self.kernels_seen.add(process.pid)
                        self.kernel_peak = max(self.kernel_peak, rss)
                except psutil.Error:  # the process ended between listing and reading
                    continue
                total += rss
            self.tree_peak = max(self.tree_peak, total)
            self._stop.wait(SAMPLE_EVERY_S)


@pytest.fixture(scope="module")
def binder_copy(tmp_path_factory):
    """A copy of the repository with a fresh venv built from environment.yml's pip section."""
    root = _copy_of_repository(tmp_path_factory.mktemp("binder") / "repo")
    deps = _environment()["dependencies"]
    python_pin = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    wanted = python_pin.partition("=")[2]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))

    venv = root.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    found = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert found == wanted, f"environment.yml pins python={wanted}; this venv has {found}"

    # conda hands the pip section to pip as a requirements file, run from the env file's folder.
    requirements = root / ".binder-pip-requirements.txt"
    requirements.write_text("\n".join(pip_section) + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", "-r", requirements.name],
                             cwd=root, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    assert install.returncode == 0, f"pip install failed:\n{install.stderr[-4000:]}"
    return root, python


def test_fresh_binder_environment_runs_every_notebook_within_binders_memory(binder_copy):
    root, python = binder_copy
    # `-e .` must have installed the copy's helpers, not this checkout's. Asked from a neutral
    # folder: `python -c` puts the working directory first on sys.path.
    where = subprocess.run([str(python), "-c", "import helpers; print(helpers.__file__)"],
                           cwd=root.parent, check=True, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(root), where.stdout
    # The copy has no data cache; point it at the verified splits this run already uses.
    env = dict(os.environ, WIKITEXT_DIR=str(data.find_split("test").parent))
    env.pop("PYTHONPATH", None)
    log = root.parent / "nbval.log"
    started = time.monotonic()
    with open(log, "w") as log_file:
        process = subprocess.Popen([str(python), "-m", "pytest", "--nbval", "notebooks", "-q",
                                    "-p", "no:cacheprovider"], cwd=root, env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT)
        try:
            with MemorySampler(process.pid) as memory:
                returncode = process.wait(timeout=NOTEBOOKS_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    minutes = (time.monotonic() - started) / 60
    output = log.read_text(errors="replace")
    assert returncode == 0, f"nbval failed in the Binder environment:\n{output[-6000:]}"
    assert "passed" in output and " failed" not in output

    assert len(memory.kernels_seen) >= 7, "expected one kernel per notebook"
    print(f"\nBinder environment: notebooks in {minutes:.1f} min; peak kernel RSS "
          f"{memory.kernel_peak / 1e9:.2f} GB; peak of the whole run "
          f"{memory.tree_peak / 1e9:.2f} GB (limit {BINDER_MEMORY_LIMIT / 1e9:.0f} GB)")
    assert memory.kernel_peak > 100 * 1000**2, "the sampler did not see the kernels' memory"
    assert memory.tree_peak < BINDER_MEMORY_LIMIT, (
        f"the notebooks' run peaked at {memory.tree_peak / 1e9:.2f} GB, over Binder's 2 GB")
