"""The human evaluation end to end, offline and on the CPU: respond → space --campaign → labels →
human-eval (issue 13's acceptance demo).

1. ``cvalues build`` writes the built-in sample; ``cvalues respond`` has the demo models demo:1
   and demo:2 answer its safety and responsibility prompts (one run folder each).
2. ``cvalues space`` starts on a free loopback port with the four runs as campaigns.
3. Simulated annotators label through the Space's HTTP API (gradio_client, one session and one
   client address each, as browsers would). Every reply has a hidden truth: demo:1's replies are
   safe 85% of the time and score about 7, demo:2's are safe 55% of the time and score about 4.
   Honest annotators label what they see (a 5% slip on safety, a point either way on scores)
   and know the gold answers; careless ones read the scale backwards, so they fail the gold
   items mixed into their draws.
4. ``cvalues votes export`` writes labels, battles and gold.jsonl; ``cvalues human-eval`` reads
   the vote store with that gold.jsonl and prints each model's safety rate and responsibility
   score with their intervals and Krippendorff's α, leaving the careless annotators out.

    python scripts/human_eval_demo.py [--work DIR] [--honest 5] [--careless 2] [--mc] [--screenshot PNG]

The figures land in DIR/demo_summary.json (the slow test reads it). With --mc, ``cvalues eval``
scores both models on the multi-choice configs, and the leaderboard puts their accuracy and
Kendall's τ beside the human columns; with --screenshot, a Playwright Chromium photographs it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"demo:1": (0.85, 7), "demo:2": (0.55, 4)}  # model -> (true safety rate, typical score)
CONFIGS = {"safety": "safety_prompts", "responsibility": "responsibility_prompts"}
SLIP = 0.05  # an honest annotator's share of mistakes
MAX_LABELS = 400  # per annotator: every loop here is bounded
CHROMIUM = "/usr/bin/chromium"


def cvalues(*args: str, log: Path | None = None) -> None:
    """One `cvalues` command in a subprocess, offline; its output goes to ``log`` (or the terminal)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "cvalues_build.cli", *args]
    with (log.open("a") if log else open(os.devnull, "w")) as out:
        done = subprocess.run(cmd, env=env, stdout=out if log else None, stderr=subprocess.STDOUT if log else None)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): cvalues {' '.join(args)}" + (f"; see {log}" if log else ""))


def respond(work: Path, limit: int | None) -> list[Path]:
    """The sample, and each demo model's replies to its prompts: one run folder per model and config."""
    if not (work / "dataset" / "README.md").exists():
        cvalues("build", "--out", str(work / "dataset"), log=work / "build.log")
    runs = []
    for model in MODELS:
        for criterion, config in CONFIGS.items():
            run = work / "runs" / f"{model.replace(':', '')}-{criterion}"
            again = ["--resume"] if (run / "run.json").exists() else []
            cvalues("respond", "--model", model, "--dataset", str(work / "dataset"), "--config", config, "--out",
                    str(run), "--max-new-tokens", "24", "--no-progress", *again,
                    *(["--limit", str(limit)] if limit else []), log=work / "respond.log")
            runs.append(run)
    return runs


def score_mc(work: Path) -> Path:
    """Both models' multi-choice accuracy (`cvalues eval`, log-likelihood), for the leaderboard's MC
    columns and Kendall's τ between the human and the automatic ranking (RQ2)."""
    for model in MODELS:
        for config in ("safety_mc", "responsibility_mc"):
            out = work / "results" / f"{model.replace(':', '')}-{config}"
            if not (out / "results.json").exists():
                cvalues("eval", "--model", model, "--dataset", str(work / "dataset"), "--config", config, "--out",
                        str(out), "--no-progress", log=work / "eval.log")
    return work / "results"


def hidden_truth(runs: Sequence[Path], seed: int) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """``{reply text: truth}`` (True/False for safety, 1–10 for responsibility), and each model's
    true safety rate and mean score over its replies, the figures human-eval should recover."""
    rng = random.Random(seed)
    truth: dict[str, Any] = {}
    per_model: dict[str, dict[str, list[float]]] = {m: {"safety": [], "responsibility": []} for m in MODELS}
    for run in runs:
        rows = [json.loads(line) for line in (run / "replies.jsonl").read_text(encoding="utf-8").splitlines()]
        rate, score = MODELS[rows[0]["model"]]
        safe_count = round(rate * len(rows))
        flags = [True] * safe_count + [False] * (len(rows) - safe_count)
        rng.shuffle(flags)
        for row, flag in zip(rows, flags, strict=True):
            if not row["reply"].strip() or row["reply"] in truth:
                continue  # nothing to label, or the same text seen already: one truth per text
            value = flag if row["criterion"] == "safety" else min(10, max(1, score + rng.choice((-1, 0, 0, 1))))
            truth[row["reply"]] = value
            per_model[row["model"]][row["criterion"]].append(float(value))
    return truth, {m: {c: sum(v) / len(v) for c, v in per.items() if v} for m, per in per_model.items()}


def gold_answers() -> dict[str, str]:
    """``{reply text: expected}`` for the sample's gold items, which an honest annotator gets right."""
    from cvalues_space.gold_pairs import gold_rows

    from cvalues_build.dataset import sample_pairs

    return {reply.reply: expected for reply, expected, _, _ in gold_rows(sample_pairs())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(work: Path, runs: Sequence[Path], gold_rate: float, results: Path | None = None) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    campaigns = [arg for run in runs for arg in ("--campaign", str(run))]
    cmd = [sys.executable, "-m", "cvalues_build.cli", "space", "--demo", "--host", "127.0.0.1", "--port", str(port),
           "--db", str(work / "votes.sqlite3"), "--dataset", str(work / "dataset"), *campaigns, "--quorum", "3",
           "--gold-rate", str(gold_rate), "--rate-limit", "1000", "--client-rate-limit", "100000", "--trust-proxy",
           "--bootstrap", "200", *(["--results", str(results)] if results else [])]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = (work / "space.log").open("ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Space exited with {proc.returncode}; see {work / 'space.log'}")
        try:
            if httpx.get(f"{url}/gradio_api/info", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"the Space did not answer within 180 s; see {work / 'space.log'}")


class Annotator:
    """One simulated visitor: a session of their own and a client address of their own."""

    def __init__(self, url: str, name: str, k: int, *, honest: bool, truth: dict, gold: dict, seed: int):
        from gradio_client import Client

        self.name, self.honest, self.truth, self.gold = name, honest, truth, gold
        self.rng = random.Random(seed)
        self.client = Client(url, verbose=False, headers={"X-Forwarded-For": f"10.13.0.{k + 1}"},
                             httpx_kwargs={"timeout": 120})
        self.client.predict(api_name="/accept_notice")  # the privacy notice, acknowledged before any label
        self.labels = {"campaign": 0, "gold": 0}

    def answer(self, criterion: str, text: str) -> tuple[str | None, int | None, str]:
        """(safe choice, score, kind) for a reply: what this annotator labels it."""
        if text in self.gold:
            expected, kind = self.gold[text], "gold"
            right = {"safe": True, "unsafe": False, "high": self.rng.randint(7, 9), "low": self.rng.randint(1, 3)}[expected]
        else:
            right, kind = self.truth[text], "campaign"
        if criterion == "safety":
            wrong = not self.honest or (kind == "campaign" and self.rng.random() < SLIP)
            return ("safe" if right != wrong else "unsafe"), None, kind
        if not self.honest:
            return None, 11 - right, kind  # the scale read backwards
        return None, min(10, max(1, right + self.rng.choice((-1, 0, 0, 0, 1)))), kind

    def work(self, criterion: str, most: int = MAX_LABELS) -> None:
        """Draw and label ``criterion`` replies until the campaign has none left for this annotator."""
        for _ in range(most):
            card, text, *_ = self.client.predict(criterion, False, api_name="/draw_reply")
            if "cv-src'>campaign<" not in card or text not in {**self.truth, **self.gold}:
                return  # campaign done for us: the tab would now generate a fresh reply
            safe, score, kind = self.answer(criterion, text)
            result = self.client.predict(safe, score, "", api_name="/submit_label")
            status = result[-1] if isinstance(result, tuple | list) else result  # the status line
            if "Recorded" not in status:
                raise RuntimeError(f"{self.name}: the label was refused: {status}")
            self.labels[kind] += 1


def label_all(url: str, truth: dict, gold: dict, honest: int, careless: int) -> dict[str, dict[str, int]]:
    """The careless annotators first (so that they meet enough gold items), then the honest ones,
    each group in parallel threads, each annotator through both criteria."""
    done: dict[str, dict[str, int]] = {}
    errors: list[BaseException] = []

    def run(people: list[Annotator], most: int) -> None:
        def one(person: Annotator) -> None:
            try:
                for criterion in CONFIGS:
                    person.work(criterion, most)
                done[person.name] = person.labels
            except BaseException as err:  # noqa: BLE001 - reported after the threads join
                errors.append(err)
        threads = [threading.Thread(target=one, args=(p,)) for p in people]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    run([Annotator(url, f"careless-{k}", k, honest=False, truth=truth, gold=gold, seed=100 + k)
         for k in range(careless)], most=30)
    run([Annotator(url, f"honest-{k}", careless + k, honest=True, truth=truth, gold=gold, seed=k)
         for k in range(honest)], most=MAX_LABELS)
    return done


def screenshot(url: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            (url, "data:", "blob:")) else route.abort())
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Leaderboard").click()
        cells = page.locator("#cv-board").get_by_role("gridcell")
        deadline = time.monotonic() + 120
        while not any("n=" in text for text in cells.all_inner_texts()):  # the human columns have arrived
            if time.monotonic() > deadline:
                raise TimeoutError("the leaderboard showed no human columns within 120 s")
            time.sleep(0.5)
        time.sleep(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        browser.close()


def evaluate(work: Path) -> dict[str, Any]:
    """Export, then human-eval on the vote store with the export's gold.jsonl (the table it prints
    goes to the terminal); returns results.json."""
    cvalues("votes", "export", str(work / "votes.sqlite3"), str(work / "export"))
    cvalues("human-eval", str(work / "votes.sqlite3"), "--gold", str(work / "export" / "gold.jsonl"),
            "--out", str(work / "human"))
    return json.loads((work / "human" / "results.json").read_text(encoding="utf-8"))


def summary(results: dict[str, Any], expected: dict[str, dict[str, float]], done: dict) -> dict[str, Any]:
    models = {}
    for model, per in results["models"].items():
        models[model] = {c: {k: per[c]["overall"][k] for k in ("value", "ci", "replies", "quorum", "labels",
                                                            "labels_left_out")} | {"truth": expected[model].get(c)}
                         for c in per}
    return {"models": models, "alpha": {c: a["alpha"] for c, a in results["agreement"].items()},
            "counts": results["counts"], "annotators": results["annotators"], "labelled": done}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--honest", type=int, default=5, help="honest annotators (default 5)")
    parser.add_argument("--careless", type=int, default=2, help="annotators who fail gold (default 2)")
    parser.add_argument("--gold-rate", type=float, default=0.25, help="share of draws that are gold (default 0.25)")
    parser.add_argument("--limit", type=int, help="prompts per config, whole categories evenly (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mc", action="store_true",
                        help="also score both models with `cvalues eval`: the MC columns and Kendall τ (RQ2)")
    parser.add_argument("--screenshot", type=Path, help="photograph the leaderboard into this PNG")
    args = parser.parse_args(argv)
    work = (args.work or Path(tempfile.mkdtemp(prefix="cvalues-human-demo-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"working in {work}")
    runs = respond(work, args.limit)
    truth, expected = hidden_truth(runs, args.seed)
    proc, url = launch(work, runs, args.gold_rate, score_mc(work) if args.mc else None)
    try:
        started = time.monotonic()
        done = label_all(url, truth, gold_answers(), args.honest, args.careless)
        print(f"{sum(sum(v.values()) for v in done.values())} labels through {url} in "
              f"{time.monotonic() - started:.0f} s: {done}")
        if args.screenshot:
            screenshot(url, args.screenshot)
            print(f"leaderboard photographed: {args.screenshot}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    out = summary(evaluate(work), expected, done)
    (work / "demo_summary.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("\ntruth vs human-eval (careless annotators left out):")
    for model, per in out["models"].items():
        for criterion, cell in per.items():
            ci = "[{:.3f}, {:.3f}]".format(*cell["ci"]) if cell["ci"] else "—"
            print(f"  {model} {criterion}: {cell['value']:.3f} {ci} from {cell['quorum']} quorum replies; "
                  f"truth {cell['truth']:.3f}")
    print(f"  α: {out['alpha']}; untrusted annotators: {out['counts']['untrusted_annotators']} "
          f"({out['counts']['labels_left_out']} labels left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
