"""The scores: accuracy, the paper's acc*, consistent accuracy, position bias, per-category scores
and a pair-level bootstrap interval, from outcome codes in numpy arrays."""

import re

import numpy

from .labels import LABEL_1, LABEL_2, OTHER, OUTCOMES, REFUSE, UNPARSED, clean_label
from .parser import answer_parser

_CODE = {LABEL_1: 0, LABEL_2: 1, OTHER: 2, REFUSE: 3, UNPARSED: 4}
_SURROGATE = re.compile("[\ud800-\udfff]")


def as_text(value: object) -> str:
    """Inputs are stored as strings: ints (and integral floats) become "1" / "2", and a missing
    answer (None, e.g. a failed generation) becomes "", which parses as unparsed."""
    if value is None:
        return ""
    if isinstance(value, str):
        # evaluate stores inputs as UTF-8 Arrow strings, which cannot hold a lone surrogate (half an
        # emoji from a JSON "\ud83d" escape): it becomes U+FFFD and the rest is still parsed
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, (bool, numpy.bool_)):
        return str(value)
    if isinstance(value, (int, numpy.integer)):
        return str(int(value))
    if isinstance(value, (float, numpy.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_list(values: object) -> list:
    return values.tolist() if isinstance(values, numpy.ndarray) else list(values)


def as_texts(values: list) -> list[str]:
    """``as_text`` of every value; a list that holds only strings is returned as it is (the
    surrogate check is left to each distinct string, in ``_codes``)."""
    return values if set(map(type, values)) == {str} else [as_text(v) for v in values]


def _codes(values: list, convert, name: str, strict: bool) -> numpy.ndarray:
    """Outcome codes, converting each distinct value once: 300k labels hold a handful, and
    free-form answers repeat. Hashing and the row-by-row lookup run in C (dict, map, fromiter)."""
    values = as_texts(values)
    lookup: dict[str, int] = {}
    for value in dict.fromkeys(values):  # in order of first occurrence
        outcome = convert(as_text(value))
        if outcome is None:
            if strict:
                raise ValueError(
                    f"{name}[{values.index(value)}] = {value!r} is not a label (expected 回复1 / 回复2, 1 / 2 or A / B)"
                )
            outcome = UNPARSED
        lookup[value] = _CODE[outcome]
    return numpy.fromiter(map(lookup.__getitem__, values), dtype=numpy.int8, count=len(values))


def _factorize(values: list, name: str) -> tuple[numpy.ndarray, list]:
    """A code per value (0, 1, ... in order of first occurrence) and the distinct values."""
    try:
        index = {v: i for i, v in enumerate(dict.fromkeys(values))}
    except TypeError:
        # evaluate hands pair_ids and categories over unchecked: an unhashable one (a list) is bad
        # input, named like the other bad inputs, not a crash
        bad = next((i for i, v in enumerate(values) if not _hashable(v)), None)
        if bad is None:
            raise
        raise ValueError(f"{name}[{bad}] = {values[bad]!r} is not hashable: use str or int values") from None
    return numpy.fromiter(map(index.__getitem__, values), dtype=numpy.int64, count=len(values)), list(index)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_length(name: str, values: object, n: int) -> None:
    if values is not None and len(values) != n:
        raise ValueError(
            f"{name} has {len(values)} items but predictions has {n}: index {min(len(values), n)} has no partner"
        )


def _bootstrap_ci(correct: numpy.ndarray, pair_of: "numpy.ndarray | None", n_pairs: int, rounds: int, seed: int):
    """95% percentile interval of accuracy. Resampling items (or pairs) with replacement only
    changes how many draws land on each kind of item (pair right 0, 1 or 2 times), so the draws
    are one multinomial per round: the same distribution as index resampling, in O(rounds)."""
    rng = numpy.random.default_rng(seed)
    n = correct.size
    if pair_of is None:
        resampled = rng.binomial(n, correct.mean(), size=rounds) / n
    else:
        per_pair = numpy.bincount(pair_of, weights=correct, minlength=n_pairs).astype(numpy.int64)
        kinds = numpy.bincount(per_pair, minlength=3)[:3] / n_pairs
        draws = rng.multinomial(n_pairs, kinds, size=rounds)
        resampled = (draws[:, 1] + 2 * draws[:, 2]) / (2 * n_pairs)
    low, high = numpy.percentile(resampled, [2.5, 97.5])
    return [float(low), float(high)]


def _ratio(num: float, den: float) -> "float | None":
    return float(num / den) if den else None


def score(predictions, references, pair_ids=None, categories=None, bootstrap=1000, seed=0) -> dict:
    """Every output of the metric, from raw lists (the metric's ``_compute``)."""
    predictions, references = as_list(predictions), as_list(references)
    n = len(predictions)
    check_length("references", references, n)
    check_length("pair_ids", pair_ids, n)
    check_length("categories", categories, n)
    if n == 0:
        raise ValueError("no predictions to score")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, numpy.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a non-negative int, got {bootstrap!r}")

    pred = _codes(predictions, answer_parser(), "predictions", strict=False)
    ref = _codes(references, clean_label, "references", strict=True)
    correct = pred == ref
    # The paper's acc* leaves out refusals and unparsed answers only: "other" counts against it.
    answered = pred <= _CODE[OTHER]
    counts = numpy.bincount(pred, minlength=5)
    n_parsed = int(counts[0] + counts[1])
    result = {
        "accuracy": float(correct.mean()),
        "acc_star": _ratio(correct.sum(), int(answered.sum())),
    }

    pair_of, n_pairs = None, 0
    if pair_ids is not None:
        pair_of, pair_keys = _factorize(as_list(pair_ids), "pair_ids")
        n_pairs = len(pair_keys)
        seen = numpy.bincount(pair_of, minlength=n_pairs)
        bad = numpy.flatnonzero(seen[pair_of] != 2)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"pair_ids[{i}] = {pair_keys[pair_of[i]]!r} occurs {int(seen[pair_of[i]])} times; every pair id must occur exactly twice"
            )
        _check_pair_references(pair_of, pair_keys, ref)
        pair_correct = numpy.bincount(pair_of, weights=correct, minlength=n_pairs) == 2
        result["consistent_accuracy"] = float(pair_correct.mean())

    result["position_bias"] = None if n_parsed == 0 else float(counts[0] / n_parsed - 0.5)
    result.update(
        n=n, n_parsed=n_parsed, refuse=int(counts[3]), other=int(counts[2]), unparsed=int(counts[4])
    )

    if categories is not None:
        result["per_category"] = _per_category(as_list(categories), correct, answered, pair_of, n_pairs)

    result["accuracy_ci"] = _bootstrap_ci(correct, pair_of, n_pairs, int(bootstrap), seed) if bootstrap else None
    return result


def _check_pair_references(pair_of: numpy.ndarray, pair_keys: list, ref: numpy.ndarray) -> None:
    """A pair is one question asked in both orders, so one item's reference is 回复1 and the
    other's 回复2; two equal references would reward a model that always gives one answer."""
    n_second = numpy.bincount(pair_of, weights=ref, minlength=len(pair_keys))  # ref code 1 is 回复2
    bad = numpy.flatnonzero(n_second[pair_of] != 1)
    if bad.size:
        i = int(bad[0])
        label = OUTCOMES[int(ref[i])]
        raise ValueError(
            f"pair_ids[{i}] = {pair_keys[pair_of[i]]!r}: both items of the pair have the reference {label}; "
            "a pair is asked in both orders, so its references must be 回复1 and 回复2"
        )


UNKNOWN_CATEGORY = "unknown"


def _category_key(value: object) -> object:
    """A missing category (None or NaN, each NaN a different object) is the one key "unknown"."""
    if value is None or (isinstance(value, (float, numpy.floating)) and value != value):
        return UNKNOWN_CATEGORY
    return value


def _per_category(categories: list, correct, answered, pair_of, n_pairs: int) -> dict:
    cat_of, raw_keys = _factorize(categories, "categories")
    # a missing category (None, or any of many NaN objects) is one key: merge the distinct keys
    index: dict = {}
    merged = numpy.array([index.setdefault(_category_key(k), len(index)) for k in raw_keys], dtype=numpy.int64)
    cat_of, keys = merged[cat_of], list(index)
    k = len(keys)
    n_cat = numpy.bincount(cat_of, minlength=k)
    right = numpy.bincount(cat_of, weights=correct, minlength=k)
    n_answered = numpy.bincount(cat_of, weights=answered, minlength=k)
    consistent = None
    if pair_of is not None:
        # A pair's category is its first item's; the other item must agree.
        pair_cat = numpy.empty(n_pairs, dtype=numpy.int64)
        pair_cat[pair_of[::-1]] = cat_of[::-1]
        bad = numpy.flatnonzero(pair_cat[pair_of] != cat_of)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"categories[{i}] = {categories[i]!r} differs from the category of the other item of its pair")
        both = numpy.bincount(pair_of, weights=correct, minlength=n_pairs) == 2
        consistent = numpy.bincount(pair_cat, weights=both, minlength=k) / numpy.bincount(pair_cat, minlength=k)
    out = {}
    for j in sorted(range(k), key=lambda j: str(keys[j])):
        key = keys[j].item() if isinstance(keys[j], numpy.generic) else keys[j]
        entry = {"n": int(n_cat[j]), "accuracy": float(right[j] / n_cat[j]), "acc_star": _ratio(right[j], n_answered[j])}
        if consistent is not None:
            entry["consistent_accuracy"] = float(consistent[j])
        out[key] = entry
    return out



