"""Generate-mode throughput against an OpenAI-compatible server (issue 12's benchmark).

The fake server (tests/fake_openai.py) runs in its own process with a fixed latency per request
(200 ms), so every request costs the same known wait and the ideal rate at concurrency C is
C / latency. The bench sends multi-choice prompts (rendered with the zh-v1 template) as chat
completions and prints, for each client and concurrency, items/s and the ratio to that ideal.
Goal: >= 0.9 of the ideal at concurrency 64 (on 2 cores).

Clients, all with at most C requests in flight:
- ``httpx``: a plain ``httpx.AsyncClient`` loop (httpcore 1.0's pool hands one idle connection
  to every queued request, so CPU per request grows with the queue: see encode/httpcore#1035);
- ``aiohttp``: a plain ``aiohttp.ClientSession`` loop, the lightest client: the reference a
  backend must match;
- ``openai``: the same loop through ``openai.AsyncOpenAI`` (its default httpx transport);
- ``openai-aio``: ``openai.AsyncOpenAI`` over ``openai.DefaultAioHttpClient()``;
- ``backend``: cvalues' own ``openai:`` backend, through ``run_cvalues_backend`` below (the hook
  for the backend of cvalues_build/evaluation/backends; skipped with a note until it exists).

A ``capacity`` line first measures aiohttp against the fake server with no latency at concurrency
64: how many requests per second client and server manage on this machine when nothing waits. The
ideal at C = 64 (320 items/s at 200 ms) needs this to be well above it. Each run also prints the
client's and the server's CPU time per item and the rate they would allow with a free core each
(the "CPU ceiling"): on a shared, loaded machine that figure says more than the wall clock.

Every reply is checked against the scripted answer, so a fast wrong run cannot pass.

    python bench/api_bench.py [--items 2000] [--items-at-1 200] [--latency-ms 200]
                              [--concurrency 1 8 64] [--clients httpx aiohttp openai openai-aio backend]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FAKE_SERVER = ROOT / "tests" / "fake_openai.py"
REPLY = "回复1"
MODEL = "fake"
MAX_TOKENS = 16
GOAL_RATIO, GOAL_CONCURRENCY = 0.9, 64

Runner = Callable[[str, Sequence[str], int], Awaitable[list[str]]]


def start_fake(latency_ms: float) -> tuple[subprocess.Popen, str]:
    """The fake server in its own process (so it does not share the client's interpreter lock)."""
    proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--default-reply", REPLY, "--latency-ms",
                             str(latency_ms)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    if not line.startswith("fake OpenAI server: "):
        proc.kill()
        raise RuntimeError(f"the fake server did not start: {line!r}")
    return proc, line.split(": ", 1)[1].strip()


def make_prompts(n: int) -> list[str]:
    """``n`` distinct multi-choice prompts as generate mode sends them."""
    from cvalues_build.core import taxonomy as tx
    from cvalues_build.core.answer_format import DEFAULT_VERSION, answer_format

    fmt = answer_format(DEFAULT_VERSION)
    return [fmt.render(tx.SAFETY, f"第{i}个问题：遇到网络诈骗电话该怎么办？", "挂断电话并报警。", "按对方说的转账。")
            for i in range(n)]


def _body(prompt: str) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": MAX_TOKENS,
            "temperature": 0.0}


async def _bounded(prompts: Sequence[str], concurrency: int, ask: Callable[[str], Awaitable[str]]) -> list[str]:
    """``concurrency`` workers take prompts in order; replies come back in input order."""
    out: list[str] = [""] * len(prompts)
    todo = iter(range(len(prompts)))

    async def worker() -> None:
        for i in todo:
            out[i] = await ask(prompts[i])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def run_httpx(base_url: str, prompts: Sequence[str], concurrency: int) -> list[str]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60,
                                 headers={"Authorization": "Bearer sk-bench"}) as client:
        async def ask(prompt: str) -> str:
            resp = await client.post("/chat/completions", json=_body(prompt))
            resp.raise_for_status()
            return resp.json()["choices"][0]["message"]["content"]

        return await _bounded(prompts, concurrency, ask)


async def run_openai(base_url: str, prompts: Sequence[str], concurrency: int) -> list[str]:
    import openai

    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60) as client:
        async def ask(prompt: str) -> str:
            got = await client.chat.completions.create(**_body(prompt))
            return got.choices[0].message.content

        return await _bounded(prompts, concurrency, ask)


async def run_aiohttp(base_url: str, prompts: Sequence[str], concurrency: int) -> list[str]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": "Bearer sk-bench"},
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def ask(prompt: str) -> str:
            async with session.post(f"{base_url}/chat/completions", json=_body(prompt)) as resp:
                resp.raise_for_status()
                return (await resp.json())["choices"][0]["message"]["content"]

        return await _bounded(prompts, concurrency, ask)


async def run_openai_aiohttp(base_url: str, prompts: Sequence[str], concurrency: int) -> list[str]:
    import openai

    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60,
                                  http_client=openai.DefaultAioHttpClient()) as client:
        async def ask(prompt: str) -> str:
            got = await client.chat.completions.create(**_body(prompt))
            return got.choices[0].message.content

        return await _bounded(prompts, concurrency, ask)


async def run_cvalues_backend(base_url: str, prompts: Sequence[str], concurrency: int) -> list[str]:
    """HOOK for cvalues' ``openai:`` backend (cvalues_build/evaluation/backends): generate
    ``prompts`` through ``open_backend("openai:fake", base_url=..., concurrency=...)``, greedy,
    ``MAX_TOKENS`` new tokens, in a worker thread (``Backend.generate`` is synchronous). Until the
    registry has an ``openai`` entry this raises NotImplementedError and the bench prints a note.
    If the backend names its options differently, adjust the ``open_backend`` call here."""
    from cvalues_build.evaluation.backends import BACKENDS, GenerationSettings, open_backend

    if "openai" not in BACKENDS:
        raise NotImplementedError("cvalues' openai backend has not landed yet (no 'openai' in backends.BACKENDS)")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")  # the fake server takes any key
    backend = open_backend(f"openai:{MODEL}", base_url=base_url, concurrency=concurrency)
    try:
        return await asyncio.to_thread(backend.generate, list(prompts), GenerationSettings(max_new_tokens=MAX_TOKENS))
    finally:
        backend.close()


CLIENTS: dict[str, Runner] = {"httpx": run_httpx, "aiohttp": run_aiohttp, "openai": run_openai,
                              "openai-aio": run_openai_aiohttp, "backend": run_cvalues_backend}


def _server_cpu_s(pid: int) -> float | None:
    """The server process's CPU seconds so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    rate: float  # items per second, wall clock
    client_ms: float  # client CPU per item
    server_ms: float | None  # server CPU per item

    @property
    def ceiling(self) -> float | None:
        """Items/s if client and server each had a free core: 1 / the busier side's CPU per item."""
        return 1000 / max(self.client_ms, self.server_ms) if self.server_ms else None


def measure(runner: Runner, server: subprocess.Popen, base_url: str, prompts: Sequence[str],
            concurrency: int) -> Run:
    """One run; every reply must be the scripted one."""
    server_cpu, client_cpu, started = _server_cpu_s(server.pid), _client_cpu_s(), time.perf_counter()
    replies = asyncio.run(runner(base_url, prompts, concurrency))
    seconds = time.perf_counter() - started
    client_ms = (_client_cpu_s() - client_cpu) * 1000 / len(prompts)
    server_after = _server_cpu_s(server.pid)
    server_ms = (server_after - server_cpu) * 1000 / len(prompts) if server_cpu is not None and server_after else None
    wrong = sum(r != REPLY for r in replies)
    if wrong or len(replies) != len(prompts):
        raise RuntimeError(f"{wrong} of {len(prompts)} replies differ from the scripted {REPLY!r}")
    return Run(len(prompts) / seconds, client_ms, server_ms)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=2000, help="generate-mode items per run")
    ap.add_argument("--items-at-1", type=int, default=200,
                    help="items at concurrency 1 (2,000 would take 400 s at 200 ms each)")
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--clients", nargs="+", choices=list(CLIENTS), default=list(CLIENTS))
    args = ap.parse_args(argv)
    prompts = make_prompts(args.items)
    latency = args.latency_ms / 1000

    print(f"load average before the bench: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    # Import every client library now, so that no timed run pays for an import (the backend's
    # first run would otherwise count the SDK's import as client CPU per item).
    import aiohttp  # noqa: F401
    import openai  # noqa: F401

    import cvalues_build.evaluation.backends.openai_api  # noqa: F401
    proc, base_url = start_fake(0.0)
    try:
        cap = measure(run_aiohttp, proc, base_url, prompts, GOAL_CONCURRENCY)
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"capacity: aiohttp against the fake server with no latency, concurrency {GOAL_CONCURRENCY}: "
          f"{cap.rate:,.0f} items/s (the ideal at {GOAL_CONCURRENCY} with latency is {GOAL_CONCURRENCY / latency:,.0f})")
    print(f"{'client':<11}{'conc.':>6}{'items':>7}{'items/s':>10}{'ideal':>8}{'ratio':>7}"
          f"{'client CPU ms':>15}{'server CPU ms':>15}{'CPU ceiling/s':>15}")
    proc, base_url = start_fake(args.latency_ms)
    met = True
    try:
        for name in args.clients:
            for c in args.concurrency:
                n = args.items_at_1 if c == 1 else args.items
                try:
                    run = measure(CLIENTS[name], proc, base_url, prompts[:n], c)
                except NotImplementedError as err:
                    print(f"{name:<11}{c:>6}  skipped: {err}")
                    break
                ideal = c / latency
                server = "n/a" if run.server_ms is None else f"{run.server_ms:.2f}"
                ceiling = "n/a" if run.ceiling is None else f"{run.ceiling:,.0f}"
                print(f"{name:<11}{c:>6}{n:>7}{run.rate:>10.1f}{ideal:>8.0f}{run.rate / ideal:>7.3f}"
                      f"{run.client_ms:>15.2f}{server:>15}{ceiling:>15}", flush=True)
                met &= c != GOAL_CONCURRENCY or run.rate / ideal >= GOAL_RATIO
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"load average after: {os.getloadavg()[0]:.1f}. Goal >= {GOAL_RATIO} of the ideal at concurrency "
          f"{GOAL_CONCURRENCY}: {'met' if met else 'NOT met'} by every client measured")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
