"""The ``/catalog add`` summary fits one message whatever the import (issue 9, item 12).

Worst cases built directly (``EARWORM_MAX_PLAYLIST_ITEMS`` is at most 1000: 1000 tracks with long
hostile titles and links, 1000 distinct failures) are checked with the fake Discord's own
validator, which answers 400 to whatever Discord would reject. The real bot on a big page, and
an import that outlives the interaction token, are in ``test_e2e_catalog.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord.catalog_embeds import catalog_add_embed
from bot.service.catalog import ImportSummary
from inference.errors import EarwormError
from tests.bot.test_e2e_catalog import HOSTILE, sections
from tests.fake_discord import validate_message
from tests.fake_discord.markdown import formatting, links, parse
from tests.fake_discord.seed import track_record


def hostile_title(i: int) -> str:
    return f"{i:04d} " + HOSTILE * 6  # ~500 characters, every kind of markdown


def stored(i: int, *, created: bool, url_chars: int = 300) -> Any:
    from bot.service.results import Stored

    url = f"https://example.com/{i}/(a b)" + "x" * url_chars
    return Stored(track_record(i, hostile_title(i), url), None, created, False)  # type: ignore[arg-type]


class Failure(EarwormError):
    code = "test_failure"


WORST_CASES = {
    "1000 added": (1000, 0, 0, "same"),
    "1000 already": (0, 1000, 0, "same"),
    "1000 failed, all different": (0, 0, 1000, "distinct"),
    "1000 of each": (1000, 1000, 1000, "distinct"),
    "one added, the rest long": (1, 1000, 1000, "distinct"),
    "few failures": (600, 398, 2, "same"),
}


@pytest.mark.parametrize("case", list(WORST_CASES))
def test_the_summary_fits_one_message_whatever_the_import(case):
    n_added, n_already, n_failed, failures = WORST_CASES[case]
    summary = ImportSummary(
        added=[stored(i, created=True) for i in range(n_added)],
        already=[stored(10_000 + i, created=False) for i in range(n_already)],
        failed=[
            Failure(f"{i} {HOSTILE} " * 25 if failures == "distinct" else "Not music.")
            for i in range(n_failed)
        ],
    )
    source = "https://example.com/playlist?list=" + "(] " * 800
    embed = catalog_add_embed(summary, source, item_limit=1000).to_dict()
    assert validate_message({"embeds": [embed]}) is None  # what Discord would accept
    assert embed["description"].startswith(
        f"Added {n_added}, already there {n_already}, failed {n_failed}."
    )
    assert embed["footer"]["text"] == "Playlists are read up to 1000 tracks."
    expected = {"Added": n_added, "Already in the catalog": n_already, "Couldn't add": n_failed}
    got = sections(embed)
    assert set(got) == {name for name, n in expected.items() if n}
    for name, (listed, more) in got.items():
        assert listed + more == expected[name], (name, listed, more)
        assert listed >= 1 or expected[name] == 0, name  # every section shows something
    # Each listed track is one link to its source, its title inert.
    for f in embed["fields"]:
        for line in f["value"].split("\n"):
            nodes = parse(line)
            assert [n.kind for n in formatting(nodes)] == [], line
            assert len(links(nodes)) == (1 if line.startswith("• [") else 0), line


def test_the_fake_rejects_what_discord_rejects():
    ok = {"title": "t", "description": "d", "url": "https://example.com/a%20b"}
    assert validate_message({"embeds": [ok]}) is None
    too_big = [{"description": "x" * 4000}, {"description": "x" * 2001}]
    assert "6000" in (validate_message({"embeds": too_big}) or "")
    fields = {"fields": [{"name": "n", "value": "v"}] * 26}
    assert "25" in (validate_message({"embeds": [fields]}) or "")
    assert "1024" in (
        validate_message({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}) or ""
    )
    for url in ("https://example.com/a b", "file:///etc/passwd", "javascript:alert(1)"):
        assert "well formed" in (validate_message({"embeds": [{"title": "t", "url": url}]}) or "")
    image = {"image": {"url": "attachment://genres.png"}, "title": "t"}
    assert validate_message({"embeds": [image]}) is None
