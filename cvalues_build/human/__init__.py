"""Human evaluation's analysis half: from labels to the paper's table.

It reads plain records (``cvalues_build.core.records.HumanLabel``) and imports only the core,
numpy, and (when used) krippendorff and scipy: never torch, gradio, datasets or the Space.

- ``quorum``: one label per annotator and reply, and each reply's quorum label (also battles).
- ``gold``: the gold-item format, the gold answer rule and annotator trust.
- ``table``: per model and criterion, overall and per category, with bootstrap intervals.
- ``agreement``: Krippendorff's α per criterion; Kendall's τ between two rankings of models.
- ``results``: ``evaluate`` (all of the above) and the layout of ``results.json``.
- ``inputs``: labels from an export folder, a labels file or the vote store; ``gold.jsonl``.
- ``report``: the printed table. ``command``: ``cvalues human-eval``.

The names a caller needs are re-exported here, loaded on first use: registering the command
(``cvalues --help``) imports none of the modules above.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "agreement": ("Alpha", "RankAgreement", "kendall_tau", "krippendorff_alpha"),
    "gold": ("AnnotatorTrust", "GoldItem", "annotator_trust", "gold_for_pair", "is_correct", "is_trusted",
             "untrusted_annotators"),
    "quorum": ("BattleVerdict", "ReplyVerdict", "decide_battles", "decide_replies", "latest_labels",
               "reply_verdict"),
    "results": ("Params", "evaluate", "model_scores", "write_results"),
    "inputs": ("InputError", "read_gold", "read_labels"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
