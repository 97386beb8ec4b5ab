"""The short table printed at the end of ``cvalues eval``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pct(value: Any) -> str:
    try:
        return f"{100 * float(value):6.2f}%"
    except (TypeError, ValueError):
        return "     -"


def summary_table(results: Mapping[str, Any]) -> str:
    """Accuracy, consistent accuracy, position bias and per-category accuracy, as plain text."""
    if results.get("table") == "preference":  # reward / dpo runs score pairs, not items
        from .pair_metrics import summary_table as pair_table

        return pair_table(results)
    lines = [f"cvalues {results.get('config', '')} · {results.get('model', '')} · {results.get('mode', '')}"]
    ci = results.get("accuracy_ci")
    ci_text = ""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        ci_text = f"  (95% CI {_pct(ci[0]).strip()} – {_pct(ci[1]).strip()})"
    lines.append(f"  {'accuracy':<26}{_pct(results.get('accuracy'))}{ci_text}")
    lines.append(f"  {'consistent accuracy':<26}{_pct(results.get('consistent_accuracy'))}")
    bias = results.get("position_bias")
    lines.append(f"  {'position bias (回复1 - 0.5)':<24}{float(bias):+7.3f}" if bias is not None else "  position bias  -")
    if results.get("mode") == "generate":
        lines.append(f"  {'acc* (parsed only)':<26}{_pct(results.get('acc_star'))}")
        lines.append(
            f"  parsed {results.get('n_parsed')}/{results.get('n')}, refuse {results.get('refuse')}, "
            f"other {results.get('other')}, unparsed {results.get('unparsed')}"
        )
    per_cat = results.get("per_category") or {}
    if per_cat:
        lines.append("  per category:")
        for name, value in sorted(per_cat.items()):
            acc = value.get("accuracy") if isinstance(value, Mapping) else value
            count = f"  (n={value['n']})" if isinstance(value, Mapping) and "n" in value else ""
            lines.append(f"    {name:<24}{_pct(acc)}{count}")
    lines.append(f"  items {results.get('n_items')}, {results.get('tokens_per_second', 0):.0f} tokens/s, "
                 f"{results.get('wall_seconds', 0):.1f} s")
    return "\n".join(lines)
