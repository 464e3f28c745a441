"""``earworm index``'s folder walk and progress bar (the demo indexes its clips with them too)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.present.format import not_music_label
from bot.service.errors import NotMusicError
from bot.service.results import Stored
from inference.errors import EarwormError
from inference.formats import AUDIO_EXTENSIONS  # every container the decoder reads

if TYPE_CHECKING:
    from bot.service.app import EarwormService


def audio_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


class ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self.tty = sys.stderr.isatty()

    def step(self, note: str = "") -> None:
        self.done += 1
        width = 30
        filled = int(width * self.done / max(1, self.total))
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {note}"
        if self.tty:
            print("\r" + line[:110].ljust(110), end="" if self.done < self.total else "\n", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr)


def file_note(path: Path, outcome: Stored | BaseException) -> str:
    """One line about one indexed file."""
    if isinstance(outcome, Stored):
        return f"{path.name}: {outcome.analysis.top_genre}"
    if isinstance(outcome, NotMusicError):
        return f"{path.name}: {not_music_label(outcome.analysis.not_music_reason)}"
    if isinstance(outcome, EarwormError):
        return f"{path.name}: {outcome}"
    return f"{path.name}: failed unexpectedly ({type(outcome).__name__}; -v shows details)"


async def index_folder(service: EarwormService, directory: Path, guild: int, user: int | None, quiet: bool = False) -> dict[str, int]:
    """Index every audio file under ``directory`` into the guild's catalog, with a progress
    bar; the counts: added, already, not_music, failed."""
    files = audio_files(directory)
    if not files:
        raise EarwormError(f"no audio files under {directory}")
    bar = None if quiet else ProgressBar(len(files), "indexing")
    counts = await service.index_files(guild, files, user, on_file=(lambda path, outcome: bar.step(file_note(path, outcome))) if bar else None)
    return vars(counts)
