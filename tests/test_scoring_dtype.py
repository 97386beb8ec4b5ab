"""``--dtype auto``: bf16 on GPUs and on CPUs with bf16 matmul instructions (AMX, AVX512-BF16),
fp32 on other CPUs; and what bf16 does to the demo model's answers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cvalues_build.evaluation import models  # noqa: E402
from cvalues_build.evaluation.models import cpu_bf16_features, dtype_name, load_model, resolve_dtype  # noqa: E402

CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
CPUINFO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"


@pytest.mark.parametrize("features, want", [(["amx_bf16"], "bf16"), (["avx512_bf16"], "bf16"), ([], "fp32")])
def test_auto_on_cpu_follows_the_cpu_features(monkeypatch, features, want):
    monkeypatch.setattr(models, "cpu_bf16_features", lambda: features)
    assert dtype_name("auto", "cpu") == want
    model, _ = load_model("demo", dtype="auto", device="cpu")
    assert next(model.parameters()).dtype == resolve_dtype("auto", "cpu") == {"bf16": torch.bfloat16,
                                                                              "fp32": torch.float32}[want]


def test_auto_on_gpu_is_bf16_and_explicit_dtypes_pass_through(monkeypatch):
    monkeypatch.setattr(models, "cpu_bf16_features", lambda: [])
    assert dtype_name("auto", "cuda") == dtype_name("auto", "cuda:1") == "bf16"
    assert [dtype_name(d, "cpu") for d in ("bf16", "fp16", "fp32")] == ["bf16", "fp16", "fp32"]
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        dtype_name("fp8", "cpu")


def test_features_come_from_torch_when_it_can_say(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True, "avx512_bf16": False}, raising=False)
    assert cpu_bf16_features() == ["amx_bf16"]


def test_features_come_from_proc_cpuinfo_when_torch_cannot_say(monkeypatch, tmp_path):
    monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(models, "CPUINFO", info)
    info.write_text(CPUINFO_AMX)
    assert cpu_bf16_features() == ["amx_bf16", "avx512_bf16"]
    info.write_text(CPUINFO_AVX2)
    assert cpu_bf16_features() == []
    info.unlink()
    assert cpu_bf16_features() == []


def test_torch_and_proc_cpuinfo_agree_on_this_machine(monkeypatch, report):
    from pathlib import Path

    if not Path("/proc/cpuinfo").exists() or not hasattr(torch.cpu, "get_capabilities"):
        pytest.skip("needs /proc/cpuinfo and torch.cpu.get_capabilities")
    from_torch = cpu_bf16_features()
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    assert cpu_bf16_features() == from_torch
    report(f"this CPU's bf16 features: {from_torch or 'none'}; --dtype auto on cpu -> {dtype_name('auto', 'cpu')}")


@pytest.mark.slow
def test_bf16_answers_agree_with_fp32_on_the_demo_set(sample_build, report):
    """bf16 is emulated on CPUs without the instructions, so this runs anywhere (slowly). The demo
    model's wide random init gives it large logits, where bf16 rounds by up to ~1 nat, so a few
    close calls flip; a real model's margins are what decide its answers."""
    import datasets

    from cvalues_build.evaluation.loglik import LoglikScorer, encode_requests

    prompts = []
    for config in ("safety_mc", "responsibility_mc"):
        prompts += datasets.load_dataset(str(sample_build), config)["test"]["prompt"]
    picks = {}
    for dtype in ("fp32", "bf16"):
        model, tok = load_model("demo", dtype=dtype, device="cpu")
        scores = LoglikScorer(model, tok).score(encode_requests(tok, prompts, ["1", "2"]), batch_size=16)
        picks[dtype] = [lp[0] >= lp[1] for lp in scores]
    same = sum(a == b for a, b in zip(picks["fp32"], picks["bf16"], strict=True))
    report(f"demo model, loglik: bf16 picks the fp32 answer on {same}/{len(prompts)} items")
    # A broken bf16 path (wrong positions, garbage logits) would agree about half the time.
    assert same >= 0.9 * len(prompts)


@pytest.mark.parametrize("features, recorded", [(["amx_bf16"], "bfloat16"), ([], "float32")])
def test_results_record_the_dtype_auto_resolved_to(sample_build, tmp_path, monkeypatch, features, recorded):
    import json

    from cvalues_build.cli import main

    monkeypatch.setattr(models, "cpu_bf16_features", lambda: features)
    out = tmp_path / "r"
    assert main(["eval", "--model", "demo", "--dataset", str(sample_build), "--config", "safety_mc", "--out",
                 str(out), "--device", "cpu", "--limit", "4", "--no-progress", "--bootstrap", "10"]) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["dtype"] == "auto" and results["backend"]["dtype"] == recorded
