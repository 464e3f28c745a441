"""The lock files match pyproject.toml, pin everything with hashes, and are what the README's
commands, CI and the Dockerfile install; yt-dlp is pinned, and `make upgrade-ytdlp` runs the
link tests, which the ``links`` marker selects."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
DEV = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def read_lock(name: str) -> dict[str, tuple[Version, int]]:
    """{package: (pinned version, number of hashes)}; a package pinned twice (per Python version)
    would mean two tested versions, which the lock avoids (``--fork-strategy fewest``)."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in (REPO / name).read_text().splitlines():
        if m := PIN.match(line):
            current = canonicalize_name(m.group(1))
            assert current not in pins, f"{name}: {current} is pinned twice"
            pins[current] = (Version(m.group(2)), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            pytest.fail(f"{name}: unexpected line {line!r}")
    return pins


@pytest.fixture(scope="module")
def runtime_lock() -> dict[str, tuple[Version, int]]:
    return read_lock("requirements.lock")


@pytest.fixture(scope="module")
def dev_lock() -> dict[str, tuple[Version, int]]:
    return read_lock("requirements-dev.lock")


def unsatisfied(requirements: list[Requirement], lock: dict[str, tuple[Version, int]]) -> list[str]:
    wrong = []
    for req in requirements:
        pin = lock.get(canonicalize_name(req.name))
        if pin is None or not req.specifier.contains(pin[0], prereleases=True):
            wrong.append(f"{req} (locked: {pin[0] if pin else 'missing'})")
    return wrong


def test_the_locks_satisfy_pyproject(runtime_lock, dev_lock) -> None:
    message = "the lock files are out of date with pyproject.toml: run `make lock`"
    assert not unsatisfied(RUNTIME, runtime_lock), message
    assert not unsatisfied(RUNTIME + DEV, dev_lock), message


def test_every_pin_has_hashes_and_the_two_locks_agree(runtime_lock, dev_lock) -> None:
    for lock in (runtime_lock, dev_lock):
        assert all(hashes for _, hashes in lock.values())
    assert {name: pin for name, pin in dev_lock.items() if name in runtime_lock} == runtime_lock
    dev_only = {canonicalize_name(r.name) for r in DEV} - {canonicalize_name(r.name) for r in RUNTIME}
    assert not dev_only & set(runtime_lock), "a dev tool leaked into the runtime lock"


def test_ranges_have_both_bounds_and_yt_dlp_is_pinned_exactly(runtime_lock) -> None:
    for req in RUNTIME + DEV:
        operators = {spec.operator for spec in req.specifier}
        assert "==" in operators or (operators & {">=", ">"} and operators & {"<", "<=", "~="}), req
    (ytdlp,) = [r for r in RUNTIME if r.name == "yt-dlp"]
    (spec,) = ytdlp.specifier
    assert spec.operator == "==" and Version(spec.version) == runtime_lock["yt-dlp"][0]


def test_bootstrap_ci_and_the_image_install_from_the_locks() -> None:
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert "--require-hashes" in bootstrap
    assert "requirements.lock" in bootstrap and "requirements-dev.lock" in bootstrap
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe and "scripts/bootstrap.sh" in recipe.group(1), target
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert re.search(r"pip install --require-hashes .*-r requirements\.lock", (REPO / "Dockerfile").read_text())
    for target in ("lock", "upgrade-ytdlp"):
        assert re.search(rf"^{target}:", makefile, re.M), f"no `make {target}`"
    assert "pytest -m links" in (REPO / "scripts" / "upgrade_ytdlp.sh").read_text()


def test_the_links_marker_selects_the_link_tests() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "links", "tests"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    modules = {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}
    # The link tests: test modules in a fetch folder or named after fetching, wherever they live.
    link_modules = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py") if "fetch" in str(p.relative_to(REPO / "tests"))}
    assert link_modules
    assert link_modules <= modules, f"not marked `links`: {sorted(link_modules - modules)}"
    assert all("fetch" in m for m in modules), sorted(modules)
    assert sum("::" in line for line in out.stdout.splitlines()) >= 50
