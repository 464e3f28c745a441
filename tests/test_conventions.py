"""Conventions that keep the code easy to live in, checked by reading the tracked source files:
one spelling of "analyze", and no module much past 600 lines (split along a seam instead)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 620  # "about 600": room for a docstring line or two, not for a second job
# The British forms of the verb; "analysis"/"analyses" (nouns) are the same in both spellings.
BRITISH_ANALYSE = re.compile(r"[Aa]nalys(e|ed|ing|er|ers)(?![a-z])")


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = [ROOT / name for name in out if (ROOT / name).is_file()]
    assert files, f"no tracked files match {patterns}"
    return files


def test_one_spelling_of_analyze() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
        for path in tracked("*.py", "*.md", "*.sql", "*.sh", "Makefile", "Dockerfile")
        if path != Path(__file__).resolve()  # this file spells them out to test the checker
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in BRITISH_ANALYSE.finditer(line)
    ]
    assert found == [], "write analyze/analyzed/analyzing/analyzer:\n" + "\n".join(found)


def test_the_checker_sees_each_british_form() -> None:
    text = "analyse Analysed analysing analyser _reanalyse analyse_all"
    assert [m.group(0) for m in BRITISH_ANALYSE.finditer(text)] == [
        "analyse", "Analysed", "analysing", "analyser", "analyse", "analyse",
    ]  # fmt: skip
    assert not BRITISH_ANALYSE.search("analysis analyses analyze Analyzer")


def test_no_module_is_much_longer_than_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in tracked("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these along a seam: {long}"
