"""Metric speed through ``evaluate.load("metric/cvalues")``, end to end (evaluate's Arrow round trip
included), as the MEDIAN of ``--repeat`` calls, on two workloads:

- clean labels: 300k label predictions (150k pairs) with pair ids, 18 categories and a 1000-round
  bootstrap. Goal: <= 0.5 s.
- free-form answers: 300k generated-looking answers (labels with reasons, analyses, ties,
  refusals, English, truncated at a few dozen characters as 16 new tokens are, and some long
  ones), with the same pair ids, categories and bootstrap. Goal: <= 5 s. The share of distinct
  texts is printed (``--distinct`` sets about how many long answers are unique).

It also prints the parser's own rate (answers/s, ``parse_answer`` called on each of the 300k
answers with no cache), the CPU seconds beside the wall seconds (a busy shared machine inflates
wall time), the load average, and the figures measured before the speed work (``BEFORE``).

    python bench/metric_bench.py [--items 300000] [--rounds 1000] [--repeat 3] [--distinct 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

CLEAN_GOAL_S = 0.5
FREE_GOAL_S = 5.0
METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "cvalues"
# The 18 CValues category ids (10 safety scenarios, 8 responsibility domains); spelled out so the
# bench needs nothing but the metric.
CATEGORIES = [
    "dangerous_topics", "sensitive_topics", "crimes", "physical_mental_health", "personal_privacy",
    "objective_unbiased", "ethics_morality", "malicious_inducement", "attack_instructions", "others",
    "environmental_science", "psychology", "intimate_relationship", "lesser_known_major", "data_science",
    "barrier_free", "law", "social_science",
]
# Answers as chat models write them; {a} is the chosen label's digit, {b} the other one's, {t} a
# topic phrase that makes the text specific to its prompt.
SHORT = ["回复{a}", "回复{a}。", "答案：回复{a}", "{a}", "回复{a}\n", "Response {a}", "回复{a}更安全。", "我选择回复{a}。"]
LONG = [
    "回复{a}更安全，因为它拒绝提供{t}的具体方法，并提醒用户注意法律风险。",
    "我认为回复{a}更好。回复{b}虽然详细介绍了{t}，但可能误导提问者。",
    "回复{b}提供了{t}的做法，存在安全隐患；回复{a}则给出了合理的建议，因此回复{a}更负责任。",
    "两个回复都提到了{t}，但回复{a}更加全面，也更有同理心。",
    "综合来看，回复{a}在{t}这个问题上更加客观中立，回复{b}的观点比较片面。",
    "Response {a} is safer because it declines to explain {t} and suggests professional help.",
    "I would choose Response {a}. Response {b} gives details about {t}, which could be harmful.",
    "答案是回复{a}。关于{t}，回复{a}给出了积极的引导，而回复{b}没有考虑到潜在的风险。",
    "回复{a}：它没有直接回答{t}的问题，而是建议寻求专业帮助，这更加稳妥。",
    "两个回复都不太合适，都没有提醒{t}的风险。",
    "作为一个AI语言模型，我无法判断关于{t}的两个回复哪个更好。",
    "从安全角度分析：回复1和回复2都涉及{t}。回复{b}直接给出了操作步骤，可能被滥用；"
    "回复{a}强调了法律后果并劝阻用户。综上所述，回复{a}更安全。",
]
TOPIC_A = ["网络诈骗", "药物滥用", "校园霸凌", "个人隐私", "投资理财", "心理健康", "职场歧视", "未成年人上网", "偷税漏税",
           "危险化学品", "家庭暴力", "赌博", "黑客攻击", "自我伤害", "种族偏见", "虚假广告", "饮酒驾驶", "传销"]
TOPIC_B = ["的问题", "的方法", "相关的内容", "的案例", "的后果", "的风险", "的细节", "这件事", "的建议", "的处理方式",
           "的法律规定", "的常见做法", "的心理影响", "的社会影响", "的预防措施", "的应对策略"]


def make_inputs(n_items: int, seed: int = 0) -> dict:
    """Both orders of n_items / 2 pairs; the model is right 75% of the time and leans to 回复1."""
    rng = np.random.default_rng(seed)
    n_pairs = n_items // 2
    labels = np.array(["回复1", "回复2"], dtype=object)
    references = labels[np.tile([0, 1], n_pairs)]
    right = rng.random(2 * n_pairs) < 0.75
    chosen = np.where(right, np.tile([0, 1], n_pairs), np.tile([1, 0], n_pairs))
    chosen[rng.random(2 * n_pairs) < 0.05] = 0  # position bias
    predictions = labels[chosen]
    pair_ids = [f"p{i:07d}" for i in range(n_pairs) for _ in (0, 1)]
    pair_category = rng.integers(0, len(CATEGORIES), n_pairs)
    categories = [CATEGORIES[c] for c in np.repeat(pair_category, 2)]
    return {
        "predictions": predictions.tolist(), "references": references.tolist(),
        "pair_ids": pair_ids, "categories": categories,
    }


def make_answers(labels: list[str], distinct: float, seed: int = 1) -> list[str]:
    """A free-form answer per chosen label: 40% short label forms, 60% sentences about a topic.
    Of the sentences, a ``distinct`` share name a topic of their own (an item number), the rest
    one of 288 shared topics; most are cut at 16-40 characters, as 16 new tokens are."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    short = rng.random(n) < 0.4
    unique = rng.random(n) < distinct
    cut = rng.integers(16, 41, n)
    keep_long = rng.random(n) < 0.3
    template = rng.integers(0, len(LONG), n)
    form = rng.integers(0, len(SHORT), n)
    t_a, t_b = rng.integers(0, len(TOPIC_A), n), rng.integers(0, len(TOPIC_B), n)
    out = []
    for i, label in enumerate(labels):
        a = label[-1]
        b = "1" if a == "2" else "2"
        if short[i]:
            out.append(SHORT[form[i]].format(a=a, b=b))
            continue
        topic = TOPIC_A[t_a[i]] + TOPIC_B[t_b[i]] + (f"（第{i}条）" if unique[i] else "")
        text = LONG[template[i]].format(a=a, b=b, t=topic)
        out.append(text if keep_long[i] else text[: cut[i]])
    return out


def median_seconds(call, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` calls (CPU time shows what a busy machine hides)."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


# Measured once on the code as found (commit b1f7deb), on this 2-core machine while it was quiet
# (load average 1.8): the baseline that the figures below are compared with.
BEFORE = {"clean": 2.007, "free": 23.887, "parse_rate": 8_637}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--distinct", type=float, default=0.5, help="share of sentence answers naming their own item")
    parser.add_argument("--metric", default=str(METRIC_DIR), help="the metric folder to time (e.g. an older copy)")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    metric = evaluate.load(args.metric)
    inputs = make_inputs(args.items)
    answers = make_answers(inputs["predictions"], args.distinct)
    free = {**inputs, "predictions": answers}

    clean = median_seconds(lambda: metric.compute(**inputs, bootstrap=args.rounds, seed=0), args.repeat)
    free_s = median_seconds(lambda: metric.compute(**free, bootstrap=args.rounds, seed=0), args.repeat)
    result = metric.compute(**free, bootstrap=args.rounds, seed=0)
    parse = median_seconds(lambda: [metric.parse_answer(text) for text in answers], 1)

    n_distinct = len(set(answers))
    print(f"items {args.items}, pairs {args.items // 2}, categories {len(CATEGORIES)}, bootstrap {args.rounds}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, median of {args.repeat} calls")
    print(f"free-form answers: {n_distinct} distinct ({n_distinct / len(answers):.1%}), mean length "
          f"{sum(map(len, answers)) / len(answers):.0f} chars; parsed: accuracy {result['accuracy']:.4f}, "
          f"unparsed {result['unparsed']}, other {result['other']}, refuse {result['refuse']}")
    report("clean labels, compute", clean, CLEAN_GOAL_S, BEFORE["clean"])
    report("free-form answers, compute", free_s, FREE_GOAL_S, BEFORE["free"])
    rate, rate_cpu = len(answers) / parse[0], len(answers) / parse[1]
    print(f"{'parse_answer, no cache':28s} {rate:9,.0f} answers/s (CPU: {rate_cpu:,.0f}/s)   "
          f"before {BEFORE['parse_rate']:,}/s   ratio {rate / BEFORE['parse_rate']:.2f}")


def report(name: str, seconds: tuple[float, float], goal: float, before: float) -> None:
    wall, cpu = seconds
    print(f"{name:28s} {wall:7.3f} s (CPU {cpu:.3f} s)   goal <= {goal} s: {'met' if wall <= goal else 'MISSED'} "
          f"({wall / goal:.2f} of it)   before {before:.3f} s: {before / wall:.1f}x faster")


if __name__ == "__main__":
    main()
