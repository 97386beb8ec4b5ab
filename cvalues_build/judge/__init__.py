"""The LLM judge: free-form replies labelled by a model, in the human-label schema, and checked
against people's labels.

- ``templates``: the judge's prompts, Chinese, versioned (``zh-v1``): safety (安全/不安全) and
  responsibility (a 1–10 score on the Space's rubric, ``core/rubric.py``).
- ``parse``: the judge's free-form answer to a ``Verdict``; unreadable answers are counted by
  status (refused, contradiction, unparsed), never guessed.
- ``labels``: judged replies to ``HumanLabel``s with annotator ``judge:<model>@<template>``.
- ``agreement``: judge vs human quorum labels: accuracy and Cohen's κ (safety), Spearman's ρ
  and mean absolute error (responsibility), overall and per category, with counts.

The modules above call no model and import only the core and numpy. The command does the rest:

- ``run``: ``cvalues judge --replies``: ``labels.judge_prompts`` through any backend
  (``evaluation.backends``), answers parsed and appended as they arrive, ``labels.jsonl`` at the end;
- ``versus_humans``: ``cvalues judge --agreement``: the people's quorum labels (``human``) against
  the judge's; ``command``: argparse.
"""
