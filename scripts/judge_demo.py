"""The LLM judge checked against people, end to end, offline and on the CPU (issue 12's acceptance).

1. ``cvalues build`` writes the built-in sample; ``cvalues respond --model demo:1`` answers its
   safety and responsibility prompts (one run folder per config: the demo campaign).
2. Every reply gets a hidden truth (seeded): safe with probability 0.7, a score around 7 for a
   safe reply and around 3 for an unsafe one.
3. The fake OpenAI server (``tests/fake_openai.py --script``) plays the judge: its script maps
   each reply, as the judge template quotes it, to a judge answer that is the truth with a
   ``--judge-flip`` share of safety labels flipped and scores off by up to two points.
4. ``cvalues judge --judge openai:fake --base-url ...`` labels both runs.
5. Three simulated people label every reply straight into a Space vote store
   (``cvalues_space.store.VoteStore``): the truth with a 5% slip, scores off by one point at most.
6. ``cvalues judge --agreement STORE --labels judged/...`` prints κ and accuracy per scenario
   and Spearman ρ and MAE per domain against the people's quorum labels (quorum 3).

    python scripts/judge_demo.py [--work DIR] [--judge-flip 0.15] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"safety": "safety_prompts", "responsibility": "responsibility_prompts"}
PEOPLE = ("person-1", "person-2", "person-3")
# How the judge template quotes a reply (cvalues_build/judge/templates.py): the fake server's key.
QUOTED = "【回复开始】\n{reply}\n【回复结束】"


def cvalues(*args: str) -> None:
    print("$ cvalues " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "cvalues_build.cli", *args], check=True, cwd=ROOT)


def read_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "replies.jsonl").read_text(encoding="utf-8").splitlines()]


def hidden_truth(rows: list[dict], rng: random.Random) -> dict[str, tuple[bool, int]]:
    truth = {}
    for row in rows:
        safe = rng.random() < 0.7
        truth[row["response_id"]] = (safe, min(10, max(1, round(rng.gauss(7 if safe else 3, 1.2)))))
    return truth


def judge_script(rows: list[dict], truth: dict, flip: float, rng: random.Random) -> dict[str, str]:
    """Quoted reply → the judge's answer (both a verdict and a score: the parser takes the one
    its criterion asks for)."""
    script = {}
    for row in rows:
        safe, score = truth[row["response_id"]]
        safe = safe != (rng.random() < flip)
        score = min(10, max(1, score + rng.randint(-2, 2)))
        script[QUOTED.format(reply=row["reply"])] = f"理由：略。\n判断：{'安全' if safe else '不安全'}\n评分：{score}"
    return script


def label_as_people(store_path: Path, rows: list[dict], truth: dict, rng: random.Random) -> int:
    from cvalues_space.store import VoteStore

    from cvalues_build.core.records import HumanLabel

    store = VoteStore(store_path)
    n = 0
    try:
        for row in rows:
            safe, score = truth[row["response_id"]]
            for k, person in enumerate(PEOPLE):
                safety = row["criterion"] == "safety"
                store.add_label(HumanLabel(
                    response_id=row["response_id"], prompt_id=row["prompt_id"], model=row["model"],
                    reply=row["reply"], criterion=row["criterion"],
                    safe=(safe != (rng.random() < 0.05)) if safety else None,
                    score=None if safety else min(10, max(1, score + rng.randint(-1, 1))),
                    annotator=person, created_at=f"2026-11-26T12:00:0{k}+00:00", prompt=row["prompt"],
                    category=row["category"]))
                n += 1
    finally:
        store.close()
    return n


def start_judge(script: Path, log: Path) -> tuple[subprocess.Popen, str]:
    out = log.open("w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", "0",
                             "--script", str(script), "--default-reply", "无法判断。"],
                            stdout=subprocess.PIPE, stderr=out, text=True, cwd=ROOT / "tests")
    line = proc.stdout.readline()  # "fake OpenAI server: http://127.0.0.1:PORT/v1"
    if "http://" not in line:
        proc.kill()
        raise RuntimeError(f"the fake server did not start: {line!r} {log.read_text(encoding='utf-8')}")
    return proc, line.split()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--judge-flip", type=float, default=0.15, help="share of safety verdicts the judge gets wrong")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="cvalues-judge-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    if not (work / "build").is_dir():
        cvalues("build", "--out", str(work / "build"))
    rows: list[dict] = []
    for criterion, config in CONFIGS.items():
        cvalues("respond", "--model", "demo:1", "--dataset", str(work / "build"), "--config", config,
                "--out", str(work / "runs" / criterion), "--max-new-tokens", "40", "--overwrite", "--no-progress")
        rows += read_rows(work / "runs" / criterion)
    truth = hidden_truth(rows, rng)
    script = work / "judge_script.json"
    script.write_text(json.dumps(judge_script(rows, truth, args.judge_flip, rng), ensure_ascii=False), encoding="utf-8")
    proc, base_url = start_judge(script, work / "fake_judge.log")
    try:
        for criterion in CONFIGS:
            cvalues("judge", "--replies", str(work / "runs" / criterion), "--judge", "openai:fake",
                    "--base-url", base_url, "--out", str(work / "judged" / criterion), "--overwrite", "--no-progress")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    store = work / "votes.sqlite3"
    store.unlink(missing_ok=True)
    print(f"{label_as_people(store, rows, truth, rng)} labels by {len(PEOPLE)} simulated people in {store}", flush=True)
    for criterion in CONFIGS:
        cvalues("judge", "--agreement", str(store), "--labels", str(work / "judged" / criterion), "--quorum", "3")
    print(f"\nwork folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
