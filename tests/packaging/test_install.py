"""A plain, non-editable install works from any directory.

The wheel is built once from a copy of the project (so nothing is written into the checkout),
installed into a fresh virtual environment, and `earworm demo` and `earworm analyze` run from a
folder outside the repository. The fresh environment borrows this one's dependencies through a
``.pth`` line, so no network is needed; the project itself comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from inference.analysis import model_version

REPO = Path(__file__).resolve().parents[2]
#: Left out of the copy the wheel is built from: environments, build output, VCS data, the tests.
NOT_SOURCES = (".venv", ".git", "data", "tests", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")

pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(root / "dist"), str(src)], cwd=root)
    (built,) = (root / "dist").glob("earworm-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed (its dependencies borrowed); returns its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv).stdout.strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_earworm_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], cwd=venv)
    return venv / "bin"


def clean_env() -> dict[str, str]:
    """The environment minus anything that could point back at the checkout."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("EARWORM_")}


def test_the_wheel_carries_the_models_the_clips_and_their_licences(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    models = {f"models/{p.name}" for p in (REPO / "models").iterdir() if p.suffix in {".onnx", ".npz", ".npy", ".json", ".csv", ".md"} or "LICENSE" in p.name}
    assert {"models/musicnn_msd_encoder.onnx", "models/MODEL_CARD.md"} <= models
    assert models <= names, f"missing from the wheel: {sorted(models - names)}"
    clips = {f"bot/demo_clips/{p.name}" for p in (REPO / "bot" / "demo_clips").iterdir()}
    assert "bot/demo_clips/LICENSES.md" in clips and len(clips) >= 6
    assert clips <= names, f"missing from the wheel: {sorted(clips - names)}"
    migrations = {f"storage/migrations/{p.name}" for p in (REPO / "storage" / "migrations").glob("*.sql")}
    assert migrations and migrations <= names
    assert not any(n.startswith("tests/") for n in names)


def test_demo_and_analyze_run_from_another_directory(installed: Path, tmp_path: Path) -> None:
    env = clean_env()
    where = run([str(installed / "python"), "-c", "import bot, inference.models as m; print(bot.__file__); print(m.MODELS_DIR)"], cwd=tmp_path, env=env)
    package, models_dir = where.stdout.split()
    assert Path(package).is_relative_to(installed.parent) and Path(models_dir).is_relative_to(installed.parent)

    demo = run([str(installed / "earworm"), "demo"], cwd=tmp_path, env=env, timeout=300)
    assert "5 added, 0 already there, 2 not music (speech, bird call), 0 failed" in demo.stdout
    assert f"Indexing the bundled clips ({Path(package).parent / 'demo_clips'})" in demo.stdout
    assert "=== 3. A playlist for Ada" in demo.stdout and "Ada:" in demo.stdout.split("=== 4.")[1]
    assert (tmp_path / "data" / "demo.db").is_file()
    assert (tmp_path / "data" / "demo-vibe_ace-genres.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    clip = tmp_path / "song.ogg"
    shutil.copy(Path(package).parent / "demo_clips" / "vibe_ace.ogg", clip)
    analysis = json.loads(run([str(installed / "earworm"), "analyze", clip.name, "--json"], cwd=tmp_path, env=env).stdout)
    assert analysis["model_version"] == model_version()  # the very model files of this checkout
    assert analysis["is_music"] and "jazz" in list(analysis["genres"])[:5]
    assert analysis["coverage"]["duration_s"] == pytest.approx(61.5, abs=0.5)
