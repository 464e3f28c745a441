"""Run the fake Discord standalone: ``python -m tests.fake_discord.run_fake [--port N]``.

Prints one JSON line with the URLs and IDs (and the environment for the bot), then serves until
SIGINT / SIGTERM. Handy for poking at the bot by hand::

    python -m tests.fake_discord.run_fake --port 8765 &
    DISCORD_TOKEN=fake-token EARWORM_API_BASE_URL=http://127.0.0.1:8765/api/v10 \\
    EARWORM_GATEWAY_URL=ws://127.0.0.1:8765/gw python -m bot.discord.app
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from .server import FakeDiscord


async def serve(port: int, token: str) -> None:
    fake = FakeDiscord(token=token, port=port, response_deadline_s=None)
    await fake.start()
    guild = fake.guild()
    info = {
        "api_base": fake.api_base,
        "gateway_url": fake.gateway_url,
        "cdn_base": fake.cdn_base,
        "app_id": str(fake.app_id),
        "guild_id": str(guild.id),
        "channels": {ch.name: str(ch.id) for ch in guild.channels},
        "users": {u.username: str(u.id) for u in fake.users.values()},
        "env": {
            "DISCORD_TOKEN": token,
            "EARWORM_API_BASE_URL": fake.api_base,
            "EARWORM_GATEWAY_URL": fake.gateway_url,
        },
    }
    print(json.dumps(info), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.close()
    for line in fake.summary().splitlines():
        print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument("--token", default="fake-token", help="the bot token the fake accepts")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.token))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
