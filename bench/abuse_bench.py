"""A normal visitor's battle time, alone and while one client floods the queue (issue 13's third
attack), for this checkout and, with ``--old PATH``, for an earlier one: the before/after figure.

Each Space runs ``cvalues space --demo`` from its own checkout (a folder of links put first on
PYTHONPATH) on loopback. The visitor plays a warm-up battle (the models load), then ``--rounds``
battles alone, then the flood: ``--flood`` ``start_battle`` calls from one client at once, never
read; then ``--rounds`` battles more. This checkout's Space runs with ``--trust-proxy`` and the
clients send their own ``X-Forwarded-For``; an older Space ignores the header.

    git archive 0c7ed8c^ | tar -x -C /tmp/before     # the Space before the anti-abuse work
    .venv/bin/python bench/abuse_bench.py --old /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from space_http import SpaceServer, call  # noqa: E402

ATTACKER, VISITOR = {"X-Forwarded-For": "203.0.113.66"}, {"X-Forwarded-For": "198.51.100.2"}


async def battle_s(http: httpx.AsyncClient, url: str, session: str) -> float:
    t0 = time.monotonic()
    done = await call(http, url, "start_battle", ["邻居半夜吵闹，我该怎么办？", "safety", None], session, VISITOR)
    if "Both replies are done" not in str(done.last):
        raise RuntimeError(f"the visitor's battle did not finish: {done}")
    return time.monotonic() - t0


async def measure(url: str, flood: int, rounds: int) -> dict:
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=30),
                                 limits=httpx.Limits(max_connections=flood + 20)) as http:
        await battle_s(http, url, "warm-up")
        alone = [await battle_s(http, url, f"alone-{k}") for k in range(rounds)]
        body = lambda k: json.dumps({"data": ["洪水：请详细回答。", "safety", None], "session_hash": f"flood-{k}"})  # noqa: E731
        joined = await asyncio.gather(*(http.post(f"{url}/gradio_api/call/start_battle", content=body(k),
                                                  headers={"content-type": "application/json", **ATTACKER})
                                        for k in range(flood)))
        flooded = [await battle_s(http, url, f"flooded-{k}") for k in range(rounds)]
        return {"alone": alone, "flooded": flooded, "joined": sum(r.status_code == 200 for r in joined)}


def run(checkout: Path, args: argparse.Namespace, trust_proxy: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        links = Path(tmp) / "pkgs"
        links.mkdir()
        (links / "cvalues_space").symlink_to(checkout / "space")
        (links / "cvalues_build").symlink_to(checkout / "cvalues_build")
        os.environ["PYTHONPATH"] = str(links)
        extra = ["--max-new-tokens", str(args.max_new_tokens)] + (["--trust-proxy"] if trust_proxy else [])
        with SpaceServer(Path(tmp) / "votes.sqlite3", Path(tmp) / "space.log", *extra) as server:
            return asyncio.run(measure(server.url, args.flood, args.rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, help="an earlier checkout to measure first (the 'before')")
    parser.add_argument("--flood", type=int, default=80, help="unread start_battle calls from one client (default 80)")
    parser.add_argument("--rounds", type=int, default=3, help="visitor battles before and during the flood")
    parser.add_argument("--max-new-tokens", type=int, default=24, help="reply length (default 24 tokens)")
    args = parser.parse_args()
    results = {}
    if args.old:
        results["before"] = run(args.old.resolve(), args, trust_proxy=False)
    results["after"] = run(ROOT, args, trust_proxy=True)
    # The figure is the visitor's first battle after the flood arrived: it queues behind the flood.
    for name, r in results.items():
        alone, flooded = statistics.median(r["alone"]), r["flooded"][0]
        print(f"{name:>6}: {r['joined']}/{args.flood} flood calls joined the queue; a visitor's battle "
              f"{alone:.2f} s alone (median of {len(r['alone'])}), {flooded:.2f} s right after the flood "
              f"(x{flooded / alone:.1f}; the next ones {', '.join(f'{t:.1f}' for t in r['flooded'][1:])} s)")
    if "before" in results:
        b, a = (results[k]["flooded"][0] for k in ("before", "after"))
        print(f"right after the flood the visitor waits {b / a:.1f}x less than before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
