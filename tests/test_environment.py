"""The pins live in requirements.txt; Binder's environment.yml must not drift from them."""

import re
import sys
import tomllib

import yaml

from helpers.paths import REPO_ROOT


def _pins():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _environment():
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def test_environment_yml_pip_section_equals_the_pins():
    deps = _environment()["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip_section == _pins() + ["-e ."]


def test_python_version_agrees_everywhere():
    deps = _environment()["dependencies"]
    assert "python=3.11" in deps
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert requires["requires-python"] == ">=3.11,<3.12"
    assert sys.version_info[:2] == (3, 11)


def test_every_pin_is_exact_and_installed():
    from importlib.metadata import version

    for pin in _pins():
        name, _, wanted = pin.partition("==")
        assert wanted, f"{pin!r} is not pinned with =="
        assert version(name) == wanted, f"{name} {version(name)} installed, {wanted} pinned"


def test_ci_runs_make_test():
    # README's first screen and the Makefile's targets: tests/test_docs.py.
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)
