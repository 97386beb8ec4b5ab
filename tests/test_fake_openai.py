"""The fake OpenAI-compatible server (tests/fake_openai.py) answers as scripted, in the wire formats
real servers use, and fails exactly as told. Clients: the ``openai`` SDK and raw ``httpx``."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from fake_openai import FakeOpenAI, Reply, listening_socket, load_script
from fake_openai_bodies import DEFAULT_LOGPROB, HOSTILE_HTML

KEY = "sk-fake-0123456789"
USER = [{"role": "user", "content": "你好，请介绍一下自己"}]


def sdk(server: FakeOpenAI, **kw) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, **kw)


def events(raw: bytes) -> list[bytes]:
    """The ``data:`` payloads of an SSE body, checking that every event is ``data: ...\\n\\n``."""
    assert raw.endswith(b"\n\n")
    parts = raw[:-2].split(b"\n\n")
    assert all(p.startswith(b"data: ") for p in parts), parts
    return [p.removeprefix(b"data: ") for p in parts]


def test_chat_answers_from_the_script_with_usage(fake_openai):
    fake_openai.script = {"介绍": "我是一个助手。", "你好，请介绍一下自己": Reply("精确匹配优先。")}
    client = sdk(fake_openai)
    got = client.chat.completions.create(model="fake", messages=USER)
    assert got.choices[0].message.content == "精确匹配优先。"
    assert got.choices[0].finish_reason == "stop"
    assert (got.usage.prompt_tokens, got.usage.completion_tokens) == (len(USER[0]["content"]), 7)
    other = [{"role": "user", "content": "请介绍北京"}]
    cut = client.chat.completions.create(model="fake", messages=other, max_tokens=3)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("我是一", "length")


def test_function_script_default_and_unscripted_prompt(fake_openai):
    fake_openai.script = lambda prompt: prompt[::-1] if prompt.startswith("反") else None
    client = sdk(fake_openai)
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "反转"}]).choices[
        0].message.content == "转反"
    with pytest.raises(openai.BadRequestError, match="no scripted reply for prompt '别的'"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "别的"}])
    fake_openai.default = "默认"
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "别的"}]).choices[
        0].message.content == "默认"


def test_chat_stream_is_sse_ending_with_done_and_usage_on_request(fake_openai):
    fake_openai.default = "安全第一"
    body = {"model": "fake", "messages": USER, "stream": True}
    plain = events(httpx.post(f"{fake_openai.base_url}/chat/completions", json=body).content)
    assert plain[-1] == b"[DONE]"
    chunks = [json.loads(p) for p in plain[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "安全第一"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and not any("usage" in c for c in chunks)
    with_usage = events(httpx.post(f"{fake_openai.base_url}/chat/completions",
                                   json={**body, "stream_options": {"include_usage": True}}).content)
    last = json.loads(with_usage[-2])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 4
    streamed = sdk(fake_openai).chat.completions.create(model="fake", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "安全第一"


def test_completions_echo_logprobs_in_vllms_form(fake_openai):
    fake_openai.script = {"问题甲": Reply("回复1", logprobs={"1": -0.25, "2": -3.0})}
    context = "问题甲……答案：回复"
    got = sdk(fake_openai).completions.create(model="fake", prompt=[context + "1", context + "2"],
                                              echo=True, max_tokens=0, logprobs=1)
    for choice, continuation, expected in zip(got.choices, "12", (-0.25, -3.0), strict=True):
        lp = choice.logprobs
        assert choice.text == context + continuation
        assert lp.tokens == list(context + continuation)  # one character, one token
        assert lp.text_offset == list(range(len(context) + 1))
        assert lp.token_logprobs[0] is None and lp.token_logprobs[1:-1] == [DEFAULT_LOGPROB] * (len(context) - 1)
        start = lp.text_offset.index(len(context))  # the client finds the continuation by offset
        assert sum(lp.token_logprobs[start:]) == expected
    assert got.usage.prompt_tokens == 2 * (len(context) + 1) and got.usage.completion_tokens == 0


def test_next_token_top_logprobs_and_echo_with_one_generated_token(fake_openai):
    fake_openai.script = {"问题乙": Reply("回复2", logprobs={"1": -2.0, "2": -0.5})}
    client = sdk(fake_openai)
    nxt = client.completions.create(model="fake", prompt="问题乙 答案：回复", max_tokens=1, logprobs=5)
    choice = nxt.choices[0]
    assert choice.text == "2" and choice.logprobs.top_logprobs[0] == {"2": -0.5, "1": -2.0}
    assert choice.logprobs.text_offset == [len("问题乙 答案：回复")]
    echoed = client.completions.create(model="fake", prompt="问题乙 答案：回复1", echo=True, max_tokens=1, logprobs=2)
    lp = echoed.choices[0].logprobs
    assert len(lp.tokens) == len("问题乙 答案：回复1") + 1  # the prompt and one generated token
    assert lp.token_logprobs[-2] == -2.0 and lp.top_logprobs[-2] == {"2": -0.5, "1": -2.0}


def test_429_then_success_with_retry_after(fake_openai):
    fake_openai.default = "好"
    fake_openai.inject("429", times=2, retry_after=0.05)
    raw = httpx.post(f"{fake_openai.base_url}/chat/completions", json={"model": "fake", "messages": USER})
    assert raw.status_code == 429 and raw.headers["retry-after"] == "0.05"
    got = sdk(fake_openai, max_retries=3).chat.completions.create(model="fake", messages=USER)
    assert got.choices[0].message.content == "好"
    assert [(r.fault, r.status) for r in fake_openai.requests] == [("429", 429), ("429", 429), (None, 200)]


def test_500_retries_are_bounded_by_the_client(fake_openai):
    fake_openai.default = "好"
    fake_openai.inject("500", times=None)
    with pytest.raises(openai.InternalServerError):
        sdk(fake_openai, max_retries=2).with_options(timeout=5).chat.completions.create(model="fake", messages=USER)
    assert [r.status for r in fake_openai.requests] == [500, 500, 500]


def test_faults_by_call_count_prompt_and_path(fake_openai):
    fake_openai.default = "好"
    fake_openai.inject("500", after=1, times=1, match="第二", path="/v1/chat/completions")
    chat, legacy = f"{fake_openai.base_url}/chat/completions", f"{fake_openai.base_url}/completions"

    def status(text: str, url: str = chat) -> int:
        return httpx.post(url, json={"model": "f", "messages": [{"role": "user", "content": text}],
                                     "prompt": text}).status_code

    # Not matching; the first match let through (after=1); another path; the fault; spent (times=1).
    seen = [status("第一"), status("第二"), status("第二", legacy), status("第二"), status("第二")]
    assert seen == [200, 200, 200, 500, 200]
    fake_openai.script = {"坏": Reply("x", fault="500")}  # a scripted entry fails every time
    assert [status("坏"), status("坏"), status("好")] == [500, 500, 200]


def test_hang_outlasts_the_client_timeout_and_never_blocks_shutdown():
    server = FakeOpenAI(default="好").start()
    server.inject("hang", hang_s=60)
    with pytest.raises(openai.APITimeoutError):
        sdk(server, timeout=0.3).chat.completions.create(model="fake", messages=USER)
    assert server.requests[0].fault == "hang" and server.requests[0].status is None  # still hanging
    server.stop()
    assert not server._thread.is_alive()


def test_broken_stream_is_cut_mid_event(fake_openai):
    fake_openai.default = "好"
    fake_openai.inject("broken_stream", times=2)
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", f"{fake_openai.base_url}/chat/completions",
                          json={"model": "fake", "messages": USER, "stream": True}) as resp:
            for piece in resp.iter_bytes():
                received += piece
    whole, half = received.split(b"\n\n", 1)
    assert json.loads(whole.removeprefix(b"data: "))["choices"][0]["delta"]["content"] == "cut"
    assert half.startswith(b"data: {") and not half.endswith(b"\n\n")
    with pytest.raises(openai.APIConnectionError):
        sdk(fake_openai).chat.completions.create(model="fake", messages=USER)


def test_malformed_json_whole_and_streamed(fake_openai):
    fake_openai.default = "好"
    fake_openai.inject("malformed_json", times=2)
    url = f"{fake_openai.base_url}/chat/completions"
    whole = httpx.post(url, json={"model": "fake", "messages": USER})
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(whole.content)
    streamed = events(httpx.post(url, json={"model": "fake", "messages": USER, "stream": True}).content)
    assert streamed[-1] == b"[DONE]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(streamed[0])


def test_hostile_bodies_html_huge_and_invalid_utf8(fake_openai):
    fake_openai.default = "好"
    url = f"{fake_openai.base_url}/chat/completions"
    fake_openai.inject("html")
    page = httpx.post(url, json={"model": "fake", "messages": USER})
    assert page.headers["content-type"].startswith("text/html") and page.text == HOSTILE_HTML
    fake_openai.inject("huge")
    huge = httpx.post(url, json={"model": "fake", "messages": USER}, timeout=30)
    assert len(huge.content) > 10 * 1024 * 1024 and huge.json()["choices"][0]["message"]["content"] == "x" * (1 << 20) * 10
    fake_openai.inject("invalid_utf8", times=2)
    for stream in (False, True):
        raw = httpx.post(url, json={"model": "fake", "messages": USER, "stream": stream}).content
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


def test_fixed_latency_delays_every_answer(fake_openai):
    # A lower bound only: asyncio.sleep never wakes early, so this cannot flake.
    fake_openai.default, fake_openai.latency_s = "好", 0.2
    started = time.monotonic()
    httpx.post(f"{fake_openai.base_url}/chat/completions", json={"model": "fake", "messages": USER})
    assert time.monotonic() - started >= 0.2


def test_records_key_only_in_the_authorization_header():
    with FakeOpenAI(default="好", api_key=KEY, models=("served",)) as server:
        client = sdk(server)
        client.chat.completions.create(model="served", messages=USER)
        with pytest.raises(openai.NotFoundError, match="`other` does not exist"):
            client.chat.completions.create(model="other", messages=USER)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0).models.list()
        assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {KEY}"] * 2 + ["Bearer sk-wrong"]
        assert server.requests[0].json["messages"] == USER and server.requests[0].prompt == USER[0]["content"]
        assert server.key_leaks(KEY) == []
        client.chat.completions.create(model="served", messages=[{"role": "user", "content": f"key {KEY}"}],
                                       extra_headers={"X-Debug": KEY})
        assert server.key_leaks(KEY) == ["request 3 /v1/chat/completions: header x-debug",
                                         "request 3 /v1/chat/completions: body"]


def test_concurrent_requests_are_each_recorded_once(fake_openai):
    fake_openai.script = lambda prompt: f"答{prompt}"
    client = sdk(fake_openai)
    answers: dict[int, str] = {}

    def ask(i: int) -> None:
        got = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": str(i)}])
        answers[i] = got.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == {i: f"答{i}" for i in range(16)}
    assert sorted(r.index for r in fake_openai.requests) == list(range(16))


def test_command_line_server_with_a_script_file(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"问题": {"text": "回复1", "logprobs": {"1": -0.1}}, "你好": "您好"},
                                 ensure_ascii=False), encoding="utf-8")
    assert load_script(script)["问题"] == Reply("回复1", {"1": -0.1})
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_openai.py")), "--script",
                             str(script), "--latency-ms", "1"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("fake OpenAI server: http://127.0.0.1:")
        base_url = line.split(": ", 1)[1].strip()
        client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=10)
        assert client.chat.completions.create(model="x", messages=[{"role": "user", "content": "你好"}]).choices[
            0].message.content == "您好"
    finally:
        proc.terminate()
        proc.wait(10)


def test_accepted_connections_have_nagle_off():
    """asyncio sets TCP_NODELAY only on sockets made with IPPROTO_TCP; without it each answer on a
    kept-alive connection waited ~40 ms for the client's delayed ACK (the bench saw 48 ms a call)."""
    async def nodelay_of_accepted() -> int:
        seen: list[int] = []

        async def on_connect(reader, writer) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listening_socket(0))
        async with server:
            _, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()
        return seen[0]

    assert asyncio.run(nodelay_of_accepted()) != 0
