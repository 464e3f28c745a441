"""Catalog commands: index, like, unlike, recommend, party, reindex, forget, demo.

All run on one SQLite file (``--db``, default ``$EARWORM_DATABASE_PATH`` or data/earworm.db).
Each parses its arguments, calls one service method and prints the result. The analysis
workers start only when a command analyses something.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from inference.errors import EarwormError

if TYPE_CHECKING:
    from bot.service.app import EarwormService

Command = Callable[[argparse.Namespace, "EarwormService"], Awaitable[int]]


def default_db() -> str:
    return os.environ.get("EARWORM_DATABASE_PATH", "data/earworm.db")


def add_commands(sub: argparse._SubParsersAction) -> None:
    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", default=default_db(), help="SQLite database file (default: %(default)s)")
        return p

    p = with_db(sub.add_parser("index", help="analyze a folder into a server's catalog"))
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

    p = with_db(sub.add_parser("reindex", help="re-analyze what an older model version produced"))
    p.set_defaults(handler=lambda a: _run(cmd_reindex, a))

    p = with_db(sub.add_parser("forget", help="delete everything stored about a user"))
    p.add_argument("--user", type=int, required=True)
    p.set_defaults(handler=lambda a: _run(cmd_forget, a))

    p = sub.add_parser("demo", help="the offline demo: index the bundled clips, analyze, recommend, blend a party")
    p.add_argument("--db", default="data/demo.db", help="demo database file (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=lambda a: _run(cmd_demo, a))


def _run(command: Command, args: argparse.Namespace) -> int:
    async def main() -> int:
        from bot.service.app import EarwormService
        from bot.service.engine import EngineConfig

        workers = getattr(args, "workers", None)
        config = EngineConfig(workers=workers, max_queue=1024) if workers else EngineConfig(max_queue=1024)
        service = await EarwormService.open(args.db, config, start_workers=False)
        try:
            return await command(args, service)
        finally:
            await service.aclose()

    return asyncio.run(main())


async def cmd_demo(args: argparse.Namespace, service: EarwormService) -> int:
    from bot.demo import run_demo

    return await run_demo(args, service)


async def cmd_index(args: argparse.Namespace, service: EarwormService) -> int:
    from bot.cli.index import index_folder

    counts = await index_folder(service, Path(args.directory), args.guild, args.user)
    print(f"catalog of guild {args.guild}: {counts['added']} added, {counts['already']} already there, {counts['not_music']} not music, {counts['failed']} failed")
    return 0 if counts["failed"] == 0 else 1


async def cmd_like(args: argparse.Namespace, service: EarwormService) -> int:
    from bot.service.results import AudioSource

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    source = AudioSource("file", path.stem, str(path), str(path.resolve()), args.user)
    if args.command == "like":
        track, changed = await service.like_source(args.guild, args.user, source)
        print(f"❤️  {track.title} " + ("liked" if changed else "was already liked") + f" (track {track.id})")
        return 0
    found = await service.unlike_source(args.guild, args.user, source)
    if found is None:
        print(f"{path.stem}: not in the catalog of guild {args.guild}, so not liked")
        return 0
    track, changed = found
    print(f"{track.title}: " + ("like removed" if changed else "was not liked"))
    return 0


async def cmd_recommend(args: argparse.Namespace, service: EarwormService) -> int:
    from bot.cli.text import playlist_text

    print(playlist_text(await service.recommend(args.guild, args.user, args.n)))
    return 0


async def cmd_party(args: argparse.Namespace, service: EarwormService) -> int:
    from bot.cli.text import party_text

    try:
        users = [int(u) for u in args.users.split(",") if u.strip()]
    except ValueError:
        raise EarwormError(f"--users expects comma-separated numbers, got {args.users!r}") from None
    print(party_text(await service.party_playlist(args.guild, users, args.n)))
    return 0


async def cmd_reindex(args: argparse.Namespace, service: EarwormService) -> int:
    """Move the catalog to this model version, with a progress bar; safe while the bot runs."""
    from bot.cli.index import ProgressBar

    bars: list[ProgressBar] = []

    def progress(i: int, n: int, note: str) -> None:
        if not bars:
            bars.append(ProgressBar(n, "reindex"))
        bars[0].step(note)

    done, problems = await service.reindex(progress)
    print(f"re-analyzed {done} track(s) with {service.model_version}; {len(problems)} left as they were")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 0


async def cmd_forget(args: argparse.Namespace, service: EarwormService) -> int:
    report = await service.forget(args.user)
    print(f"forgot user {args.user}: {report.likes} likes, {report.party_memberships} party memberships, {report.recommendations} recommendations removed; {report.tracks_unlinked} tracks unlinked")
    return 0
