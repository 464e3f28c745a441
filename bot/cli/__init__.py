"""``earworm``: the command-line front end.

Top-level imports stay light: pool workers re-import the entry script, and every command
should start fast. Each command imports what it needs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from inference.errors import EarwormError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="earworm", description="Earworm: listen to music, tell what it sounds like, recommend alike.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and timings")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("analyze", help="analyze one audio file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print the full Analysis as JSON")
    p.add_argument("--chart", metavar="PNG", help="write the genre timeline picture here")

    p = sub.add_parser("eval", help="accuracy and retrieval precision on a labelled folder")
    p.add_argument("directory")
    p.add_argument("--labels", required=True, help="CSV with at least the columns file,label")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="only rows where COLUMN equals VALUE (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--workers", type=int, default=None, help="analysis worker processes (default: CPU count)")

    p = sub.add_parser("run", help="run the Discord bot (token and settings from the environment / .env)")
    p.add_argument("--check", action="store_true", help="validate the settings, print them (token masked) and exit")
    p.add_argument("--health", action="store_true", help="exit 0 if a running bot's heartbeat is fresh, else 1 (for Docker HEALTHCHECK)")

    from bot.cli.catalog import add_commands

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0) if hasattr(args, "handler") else _dispatch(args)
    except EarwormError as exc:
        print(f"earworm: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"earworm: no such file: {exc.filename or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `earworm analyze x --json | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except Exception as exc:
        from bot.service.errors import StorageError

        if not isinstance(exc, StorageError):
            raise
        # A damaged, read-only, newer or full database: one line that says what to do (the
        # traceback at DEBUG level: `earworm run` with EARWORM_LOG_LEVEL=DEBUG shows it).
        logging.getLogger("earworm").debug("database failure", exc_info=True)
        print(f"earworm: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "analyze":
        from bot.cli.analyze import run_analyze

        return run_analyze(args)
    if args.command == "eval":
        from bot.cli.evaluate import run_eval

        return run_eval(args)
    if args.command == "run":
        from bot.cli.run import run_discord

        return run_discord(args)
    raise SystemExit(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
