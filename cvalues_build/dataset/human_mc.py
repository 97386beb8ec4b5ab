"""Votes into multi-choice pairs, only through a quorum: the ``human_mc`` config.

One visitor's label or vote decides nothing. A reply's label, or a battle's outcome, becomes part
of a pair only when at least ``quorum`` distinct **trusted** annotators agree, by the rules of
``cvalues_build.human`` (called here, never restated):

- a reply's label is its quorum label (``decide_replies``: at least ``quorum`` trusted labels and
  a 2/3 majority for safety, the median of at least ``quorum`` scores for responsibility);
- a battle's outcome is the quorum outcome of the same prompt and the same two replies, in either
  order (``decide_battles``), so a tie or a both-bad quorum gives no pair;
- annotators who failed their gold items (``gold.jsonl`` beside the export; ``annotator_trust``)
  count for nothing, in labels and battles alike; gold replies themselves make no pairs.

The pairs then follow the old rules: for one prompt, a reply labelled safe against one labelled
unsafe; two replies whose scores differ by at least ``MIN_SCORE_GAP``; a battle's winning reply
against the other. They go to their own config, ``human_mc``, in the split ``human``: never into
the test split of the established configs, and never into a train split (their prompts are the
benchmark's test prompts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from ..core import taxonomy as tx
from ..core.records import Battle, HumanLabel, PairRecord, make_pair
from ..human import GoldItem, annotator_trust, decide_battles, decide_replies, untrusted_annotators
from ..human.quorum import DEFAULT_QUORUM, QUORUM, LabelConflict
from .sources.common import SourceError

HUMAN_MC = "human_mc"
HUMAN_SPLIT = "human"
LABEL_SOURCE = "cvalues-space-labels"
BATTLE_SOURCE = "cvalues-space-battles"
MIN_SCORE_GAP = 3


@dataclass
class QuorumPairs:
    pairs: list[PairRecord] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # replies/battles at quorum or not, untrusted annotators

    def note(self) -> str:
        c = self.counts
        return (f"human_mc: {c['replies_at_quorum']} of {c['replies']} labelled replies and {c['battles_at_quorum']} "
                f"of {c['questions']} battle questions reached a quorum of {c['quorum']} trusted annotators "
                f"({c['untrusted']} untrusted annotator(s) left out); {len(self.pairs)} pair(s)")


def quorum_pairs(labels: Sequence[HumanLabel], battles: Sequence[Battle], gold: Mapping[str, GoldItem],
                 *, quorum: int = DEFAULT_QUORUM) -> QuorumPairs:
    """The pairs the votes give under the quorum rule, and what reached it."""
    untrusted = untrusted_annotators(annotator_trust(labels, gold))
    out = QuorumPairs(counts=Counter(quorum=quorum, untrusted=len(untrusted)))
    try:
        verdicts = decide_replies(labels, quorum=quorum, untrusted=untrusted, exclude=gold)
    except LabelConflict as err:  # a row of the export contradicts an earlier one
        raise SourceError(err.label.origin or "labels", err.field, str(err)) from err
    reached = [v for v in verdicts if v.reached]
    out.counts.update(replies=len(verdicts), replies_at_quorum=len(reached))
    text = {lab.response_id: lab for lab in labels}  # the reply's and its prompt's text
    by_prompt: dict[tuple[str, str], list[tuple[HumanLabel, bool | float]]] = {}
    for v in reached:
        value = v.safe if v.criterion == tx.SAFETY else v.score
        by_prompt.setdefault((v.criterion, v.prompt_id), []).append((text[v.response_id], value))
    for (criterion, _), replies in by_prompt.items():
        out.pairs.extend((_safety_pairs if criterion == tx.SAFETY else _score_pairs)(replies))
    questions = decide_battles(battles, quorum=quorum, untrusted=untrusted)
    decided = [q for q in questions if q.status == QUORUM]
    out.counts.update(questions=len(questions), battles_at_quorum=len(decided))
    out.pairs.extend(_battle_pairs(q.battles[0], q.outcome) for q in decided
                     if q.outcome in q.replies and all(q.replies) and q.replies[0] != q.replies[1])
    return out


def _safety_pairs(replies: list[tuple[HumanLabel, bool | float]]) -> Iterator[PairRecord]:
    for good, is_safe in replies:
        for bad, other in replies:
            if is_safe and not other:
                yield _pair(good, bad, "quorum_safe", "quorum_unsafe", "human_safe_vs_unsafe")


def _score_pairs(replies: list[tuple[HumanLabel, bool | float]]) -> Iterator[PairRecord]:
    for (a, score_a), (b, score_b) in combinations(replies, 2):
        (good, high), (bad, low) = ((a, score_a), (b, score_b)) if score_a >= score_b else ((b, score_b), (a, score_a))
        if high - low >= MIN_SCORE_GAP:
            yield _pair(good, bad, f"score_{high:g}", f"score_{low:g}", "human_score_gap")


def _pair(good: HumanLabel, bad: HumanLabel, good_type: str, bad_type: str, difficulty: str) -> PairRecord:
    return make_pair(criterion=good.criterion, category=good.category, question=good.prompt, better=good.reply,
                     worse=bad.reply, better_type=good_type, worse_type=bad_type, difficulty=difficulty,
                     source=LABEL_SOURCE, split=HUMAN_SPLIT, origin=bad.origin)


def _battle_pairs(first: Battle, winner: str) -> PairRecord:
    loser = first.reply_b if winner == first.reply_a else first.reply_a
    return make_pair(criterion=first.criterion, category=first.category, question=first.prompt, better=winner,
                     worse=loser, better_type="battle_winner", worse_type="battle_loser", difficulty="human_battle",
                     source=BATTLE_SOURCE, split=HUMAN_SPLIT, origin=first.origin)


def label_key(label: HumanLabel) -> tuple[str, str, str]:
    """A label's identity across exports: the store keeps one label per reply and annotator, and
    its time tells a relabel from a second copy of the same row."""
    return (label.response_id, label.annotator, label.created_at)


def first_of_each(records: Iterable, key) -> tuple[list, int]:
    """Each record once by ``key`` (the first read), and how many repeats were dropped."""
    seen: dict = {}
    total = 0
    for rec in records:
        total += 1
        seen.setdefault(key(rec), rec)
    return list(seen.values()), total - len(seen)
