"""``earworm analyze FILE [--json] [--chart PNG]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.analysis import Analyzer
from inference.pool import worker_threads


def run_analyze(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    analysis = Analyzer.load(threads=worker_threads()).analyze(path)
    if args.chart:
        from bot.present.chart import genre_timeline_png

        if analysis.is_music:
            Path(args.chart).write_bytes(genre_timeline_png(analysis))
        else:
            from bot.service.errors import not_music_message

            print(f"earworm: no chart: {not_music_message(analysis.not_music_reason)}", file=sys.stderr)
    if args.json:
        print(json.dumps(analysis.to_dict(), indent=2))
    else:
        from bot.cli.text import analysis_text

        print(analysis_text(analysis, color=sys.stdout.isatty()))
    return 0
