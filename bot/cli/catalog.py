"""Catalog commands: index, like, unlike, recommend, party, reindex, forget, demo.

All run on one SQLite file (``--db``, default ``$EARWORM_DATABASE_PATH`` or data/earworm.db).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from inference.errors import EarwormError
from inference.formats import AUDIO_EXTENSIONS

AUDIO_SUFFIXES = AUDIO_EXTENSIONS  # every container the decoder reads

log = logging.getLogger(__name__)


def default_db() -> str:
    return os.environ.get("EARWORM_DATABASE_PATH", "data/earworm.db")


def add_commands(sub: argparse._SubParsersAction) -> None:
    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", default=default_db(), help="SQLite database file (default: %(default)s)")
        return p

    p = with_db(sub.add_parser("index", help="analyse a folder into a server's catalog"))
    p.add_argument("directory")
    p.add_argument("--guild", type=int, required=True)
    p.add_argument("--user", type=int, default=None, help="who added the tracks")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=lambda a: _run(cmd_index, a))

    for name, helptext in (("like", "like a track (indexes it first if needed)"), ("unlike", "remove a like")):
        p = with_db(sub.add_parser(name, help=helptext))
        p.add_argument("file")
        p.add_argument("--user", type=int, required=True)
        p.add_argument("--guild", type=int, required=True)
        p.set_defaults(handler=lambda a: _run(cmd_like, a))

    p = with_db(sub.add_parser("recommend", help="a playlist from a user's likes, each pick explained"))
    p.add_argument("--user", type=int, required=True)
    p.add_argument("--guild", type=int, required=True)
    p.add_argument("-n", type=int, default=10)
    p.set_defaults(handler=lambda a: _run(cmd_recommend, a))

    p = with_db(sub.add_parser("party", help="one playlist fair to several users"))
    p.add_argument("--users", required=True, help="comma-separated user ids")
    p.add_argument("--guild", type=int, required=True)
    p.add_argument("-n", type=int, default=15)
    p.set_defaults(handler=lambda a: _run(cmd_party, a))

    p = with_db(sub.add_parser("reindex", help="re-analyse what an older model version produced"))
    p.set_defaults(handler=lambda a: _run(cmd_reindex, a))

    p = with_db(sub.add_parser("forget", help="delete everything stored about a user"))
    p.add_argument("--user", type=int, required=True)
    p.set_defaults(handler=lambda a: _run(cmd_forget, a))

    p = sub.add_parser("demo", help="the offline demo: index the bundled clips, analyse, recommend, blend a party")
    p.add_argument("--db", default="data/demo.db", help="demo database file (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=lambda a: _run(cmd_demo, a))


def _run(command: Callable[[argparse.Namespace, object], Awaitable[int]], args: argparse.Namespace) -> int:
    async def main() -> int:
        from bot.service.app import EarwormService
        from bot.service.engine import EngineConfig

        workers = getattr(args, "workers", None) or os.cpu_count() or 1
        service = await EarwormService.open(args.db, EngineConfig(workers=workers, max_queue=1024))
        try:
            return await command(args, service)
        finally:
            await service.aclose()

    return asyncio.run(main())


async def cmd_demo(args: argparse.Namespace, service) -> int:
    from bot.demo import run_demo

    return await run_demo(args, service)


def audio_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


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


async def index_folder(service, directory: Path, guild: int, user: int | None, quiet: bool = False) -> dict[str, int]:
    from bot.service.app import NotMusicError

    files = audio_files(directory)
    if not files:
        raise EarwormError(f"no audio files under {directory}")
    bar = None if quiet else ProgressBar(len(files), "indexing")
    counts = {"added": 0, "already": 0, "not_music": 0, "failed": 0}

    async def one(path: Path) -> None:
        try:
            stored = await service.add_track(guild, path, title=path.stem, source_kind="file", source_url=str(path.resolve()), added_by=user)
            counts["added" if stored.created else "already"] += 1
            note = f"{path.name}: {stored.analysis.top_genre}"
        except NotMusicError as exc:
            counts["not_music"] += 1
            note = f"{path.name}: not music ({exc.analysis.not_music_reason})"
        except EarwormError as exc:
            counts["failed"] += 1
            note = f"{path.name}: {exc}"
        except Exception as exc:  # a bug or a fault on one file must not stop the batch
            log.error("indexing %s failed: %r", path, exc, exc_info=log.isEnabledFor(logging.INFO))
            counts["failed"] += 1
            note = f"{path.name}: failed unexpectedly ({type(exc).__name__}; -v shows details)"
        if bar:
            bar.step(note)

    await asyncio.gather(*(one(p) for p in files))
    return counts


async def cmd_index(args: argparse.Namespace, service) -> int:
    counts = await index_folder(service, Path(args.directory), args.guild, args.user)
    print(f"catalog of guild {args.guild}: {counts['added']} added, {counts['already']} already there, {counts['not_music']} not music, {counts['failed']} failed")
    return 0 if counts["failed"] == 0 else 1


async def cmd_like(args: argparse.Namespace, service) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    stored = await service.add_track(args.guild, path, title=path.stem, source_kind="file", source_url=str(path.resolve()), added_by=args.user)
    if args.command == "like":
        changed = await service.like(args.guild, args.user, stored.track.id)
        print(f"❤️  {stored.track.title} " + ("liked" if changed else "was already liked") + f" (track {stored.track.id})")
    else:
        changed = await service.unlike(args.guild, args.user, stored.track.id)
        print(f"{stored.track.title}: " + ("like removed" if changed else "was not liked"))
    return 0


async def cmd_recommend(args: argparse.Namespace, service) -> int:
    from bot.cli.playlist_text import playlist_text

    playlist = await service.recommend(args.guild, args.user, args.n)
    print(playlist_text(playlist))
    return 0


async def cmd_party(args: argparse.Namespace, service) -> int:
    from bot.cli.playlist_text import party_text

    try:
        users = [int(u) for u in args.users.split(",") if u.strip()]
    except ValueError:
        raise EarwormError(f"--users expects comma-separated numbers, got {args.users!r}") from None
    party = await service.party_playlist(args.guild, users, args.n)
    print(party_text(party))
    return 0


async def cmd_reindex(args: argparse.Namespace, service) -> int:
    """Move the catalog to this model version, with a progress bar; safe while the bot runs."""
    bars: list[ProgressBar] = []

    def progress(i: int, n: int, note: str) -> None:
        if not bars:
            bars.append(ProgressBar(n, "reindex"))
        bars[0].step(note)

    done, problems = await service.reindex(progress)
    print(f"re-analysed {done} track(s) with {service.model_version}; {len(problems)} left as they were")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 0


async def cmd_forget(args: argparse.Namespace, service) -> int:
    report = await service.forget(args.user)
    print(f"forgot user {args.user}: {report.likes} likes, {report.party_memberships} party memberships, {report.recommendations} recommendations removed; {report.tracks_unlinked} tracks unlinked")
    return 0
