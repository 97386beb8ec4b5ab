"""The ``openai`` backend over the fake OpenAI-compatible server (tests/fake_openai.py): scripted
replies in order, streaming, vLLM-style log-likelihoods, bounded retries, the API key, and
hostile replies refused with a clear error. Loopback only; every wait is bounded."""

from __future__ import annotations

import time

import pytest
from fake_openai import Reply

from cvalues_build.evaluation.backends import (
    BackendError,
    GenerationSettings,
    LoglikUnsupported,
    open_backend,
)
from cvalues_build.evaluation.backends.openai_wire import ReplyRefused, public_url

KEY = "sk-test-9f8e7d6c5b4a"
GREEDY = GenerationSettings(max_new_tokens=32)


@pytest.fixture
def served(fake_openai):
    """``served(**options)``: the backend for the fake server, closed after the test."""
    opened = []

    def open_(**options):
        options.setdefault("max_retries", 0)
        options.setdefault("request_timeout", 10)
        backend = open_backend("openai:fake", base_url=fake_openai.base_url, **options)
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        backend.close()


def _bodies(server, path="/v1/chat/completions"):
    return [r.json for r in server.requests if r.path == path]


def test_generate_gives_each_prompts_scripted_reply_in_input_order(fake_openai, served):
    prompts = [f"问题{i}" + "长" * (i % 4) for i in range(12)]
    fake_openai.script = lambda prompt: f"答{prompt}"
    seen: list[int] = []
    replies = served(concurrency=4).generate(prompts, GREEDY, on_batch=lambda idx, texts: seen.extend(idx))
    assert replies == [f"答{p}" for p in prompts]
    assert sorted(seen) == list(range(12))  # every reply handed over once
    bodies = _bodies(fake_openai)
    assert len(bodies) == 12 and {b["messages"][-1]["content"] for b in bodies} == set(prompts)
    assert all(b["temperature"] == 0.0 and b["max_tokens"] == 32 and b["model"] == "fake" for b in bodies)
    # The longest prompts are sent first (one at a time, the order the server sees is the order sent).
    served(concurrency=1).generate(prompts, GREEDY)
    sent = [b["messages"][-1]["content"] for b in _bodies(fake_openai)[12:]]
    assert sent == sorted(prompts, key=lambda p: (-len(p), prompts.index(p)))


def test_without_a_chat_template_the_prompt_is_continued_through_completions(fake_openai, served):
    fake_openai.default = "1更好"
    backend = served()
    assert backend.generate(["答案：回复"], GenerationSettings(max_new_tokens=4, chat_template=False)) == ["1更好"]
    assert [r.path for r in fake_openai.requests] == ["/v1/completions"]
    assert fake_openai.requests[0].json["prompt"] == "答案：回复"


def test_sampling_settings_and_seed_are_sent_and_recorded(fake_openai, served):
    fake_openai.default = "好"
    settings = GenerationSettings(max_new_tokens=8, do_sample=True, temperature=0.7, top_p=0.9, top_k=20, seed=7)
    served().generate(["你好"], settings)
    body = fake_openai.requests[0].json
    assert (body["temperature"], body["top_p"], body["seed"], body["top_k"]) == (0.7, 0.9, 7, 20)
    assert settings.record()["seed"] == 7


def test_stream_gives_the_reply_piece_by_piece_and_counts_usage(fake_openai, served):
    fake_openai.default = "流式回复"
    backend = served()
    pieces = list(backend.stream("你好", GREEDY))
    assert pieces == ["流", "式", "回", "复"]
    body = fake_openai.requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert backend.usage() == {"tokens": 6, "prompt_tokens": 2, "completion_tokens": 4, "requests": 1, "retries": 0}


def test_loglik_sums_the_continuation_in_vllms_echo_form(fake_openai, served):
    fake_openai.script = {"甲": Reply(logprobs={"1": -0.25, "2": -3.5}), "乙": Reply(logprobs={"1": -4.0, "2": -0.125})}
    backend = served(concurrency=2)
    assert backend.loglik(["问题甲 答案：回复", "问题乙 答案：回复"], ["1", "2"]) == [[-0.25, -3.5], [-4.0, -0.125]]
    body = _bodies(fake_openai, "/v1/completions")[0]
    assert body["echo"] is True and body["logprobs"] == 1 and len(body["prompt"]) == 2
    assert backend.supports_loglik


def test_a_server_without_completions_refuses_loglik_clearly_and_still_generates(fake_openai, served):
    fake_openai.app.router.routes = [r for r in fake_openai.app.router.routes
                                     if getattr(r, "path", "") != "/v1/completions"]  # a chat-only server
    fake_openai.default = "回复1"
    backend = served()
    with pytest.raises(LoglikUnsupported, match=r"model 'fake' at http://127\.0\.0\.1:\d+/v1 gives no prompt "
                                                r"log-probabilities .*HTTP 404.*use --mode generate"):
        backend.loglik(["答案：回复"], ["1", "2"])
    assert backend.supports_loglik is False
    assert backend.generate(["问"], GREEDY) == ["回复1"]


def test_429_is_retried_after_the_servers_retry_after(fake_openai, served):
    fake_openai.default = "好"
    fake_openai.inject("429", retry_after=1.2)
    backend = served(max_retries=2)
    started = time.monotonic()
    assert backend.generate(["你好"], GREEDY) == ["好"]
    # The SDK's own first backoff is at most 0.5 s: waiting longer means Retry-After was read.
    assert time.monotonic() - started >= 1.1
    assert [r.status for r in fake_openai.requests] == [429, 200]
    assert backend.usage()["retries"] == 1


def test_5xx_retries_are_bounded_and_the_error_names_model_and_server(fake_openai, served):
    fake_openai.default = "好"
    fake_openai.inject("500", times=None)
    with pytest.raises(BackendError, match=r"model 'fake' at http://127\.0\.0\.1:\d+/v1: prompt 1 of 1: "
                                           r"HTTP 500: .*after 2 retries") as err:
        served(max_retries=2).generate(["你好"], GREEDY)
    assert "Traceback" not in str(err.value)
    assert len(fake_openai.requests) == 3


def test_a_hung_server_times_out_and_is_retried_a_bounded_number_of_times(fake_openai, served):
    fake_openai.default = "好"
    fake_openai.inject("hang", times=None, hang_s=30)
    with pytest.raises(BackendError, match=r"no answer within 0\.5 s, after 1 retries"):
        served(max_retries=1, request_timeout=0.5).generate(["你好"], GREEDY)
    assert len(fake_openai.requests) == 2


def test_the_first_failure_stops_new_requests_and_hands_over_the_finished_ones(fake_openai, served):
    fake_openai.script = lambda prompt: f"答{prompt}"
    fake_openai.inject("500", times=None, after=3)
    kept: dict[int, str] = {}
    with pytest.raises(BackendError, match="prompt 4 of 10: HTTP 500"):
        served(concurrency=1).generate([f"问题{i}" for i in range(10)], GREEDY,
                                       on_batch=lambda idx, texts: kept.update(zip(idx, texts, strict=True)))
    assert kept == {i: f"答问题{i}" for i in range(3)}
    assert len(fake_openai.requests) == 4  # nothing sent after the failure


@pytest.mark.parametrize(("fault", "message"), [
    ("html", "answered text/html instead of JSON"),
    ("huge", "refused as no reply"),
    ("invalid_utf8", "not valid UTF-8"),
    ("malformed_json", "not valid JSON"),
])
def test_hostile_replies_are_refused_with_a_clear_error(fake_openai, served, fault, message):
    fake_openai.default = "好"
    backend = served()
    fake_openai.inject(fault)
    with pytest.raises(BackendError, match=f"model 'fake' at .*: prompt 1 of 1: .*{message}"):
        backend.generate(["你好"], GREEDY)
    fake_openai.inject(fault)
    with pytest.raises(BackendError, match=f"streamed reply: .*{message}"):
        list(backend.stream("你好", GREEDY))
    assert backend.generate(["你好"], GREEDY) == ["好"]  # the next request is served as usual


def test_a_broken_stream_raises_after_the_pieces_so_far(fake_openai, served):
    fake_openai.inject("broken_stream")  # one whole event ("cut"), then half an event, then the cut
    pieces: list[str] = []
    with pytest.raises(BackendError, match="streamed reply: the connection broke while the reply was read"):
        for piece in served().stream("你好", GREEDY):
            pieces.append(piece)
    assert pieces == ["cut"]


def test_a_script_in_a_reply_is_returned_as_text(fake_openai, served):
    fake_openai.default = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    assert served().generate(["你好"], GenerationSettings(max_new_tokens=100)) == [fake_openai.default]


def test_the_key_comes_only_from_the_named_variable_and_stays_in_the_authorization_header(
        fake_openai, served, monkeypatch):
    fake_openai.api_key, fake_openai.default = KEY, "好"
    monkeypatch.setenv("CVALUES_TEST_KEY", KEY)
    backend = served(api_key_env="CVALUES_TEST_KEY")
    assert backend.generate(["你好"], GREEDY) == ["好"] and list(backend.stream("你好", GREEDY)) == ["好"]
    assert fake_openai.key_leaks(KEY) == []
    assert KEY not in repr(backend.describe()) and backend.describe()["api_key_env"] == "CVALUES_TEST_KEY"
    monkeypatch.setenv("CVALUES_TEST_KEY", "sk-wrong-key-123")
    with pytest.raises(BackendError, match=r"HTTP 401: .*the key comes from \$CVALUES_TEST_KEY\)") as err:
        served(api_key_env="CVALUES_TEST_KEY").generate(["你好"], GREEDY)
    assert "sk-wrong-key-123" not in str(err.value)
    echoed = served(api_key_env="CVALUES_TEST_KEY")._failure(ReplyRefused("a proxy page quoting sk-wrong-key-123"), "x")
    assert "sk-wrong-key-123" not in str(echoed) and "***" in str(echoed)  # a server that echoes the key
    monkeypatch.delenv("CVALUES_TEST_KEY")
    with pytest.raises(BackendError, match="CVALUES_TEST_KEY .* is not set"):
        served(api_key_env="CVALUES_TEST_KEY")


@pytest.mark.parametrize(("spec", "options", "message"), [
    ("openai:", {}, "no model after the colon"),
    ("openai:my model", {}, "holds a space"),
    ("openai:m", {"base_url": "ftp://host/v1"}, "must start with http"),
    ("openai:m", {"concurrency": 0}, "concurrency must be a positive number"),
    ("openai:m", {"max_retries": -1}, "max_retries must be a whole number"),
    ("openai:m", {"dtype": "bf16"}, "takes no option dtype"),
])
def test_bad_names_and_options_are_refused_before_any_request(spec, options, message):
    with pytest.raises(BackendError, match=message):
        open_backend(spec, base_url=options.pop("base_url", "http://127.0.0.1:9/v1"), **options)


def test_recorded_server_urls_carry_no_credentials():
    assert public_url("https://user:pa55@host.example:8443/v1/?key=abc#x") == "https://host.example:8443/v1"
