"""One abusive visitor against the Space (issue 13, deliverable 5).

The first half checks the rules one by one, in-process: client keys, rate limits per session
and per client, one generation per client, the queue's gate, the identity filter, the login rule,
what the export leaves out and the privacy of the Hub mirror. The second half (marked slow)
replays the issue's attacks through a launched Space's HTTP API, over loopback, in bounded loops.
"""

from __future__ import annotations

import json
import types

import pytest
from cvalues_space.abuse import GenerationSlots, Limits, QueueGate, RateLimiter, check_all
from cvalues_space.clients import Visitor, Visitors, client_address, logged_in_user
from cvalues_space.identity import IdentityFilter
from cvalues_space.refusals import RateLimited, VoteRefused

from cvalues_build.core.records import make_prompt


def _hash(text: str) -> str:
    return f"h({text})"


# -- who is asking -----------------------------------------------------------------------------
def test_the_client_is_the_first_forwarded_hop_only_behind_a_trusted_proxy():
    headers = {"x-forwarded-for": "203.0.113.7, 10.0.0.2"}
    assert client_address("10.0.0.9", headers, trust_proxy=True) == "203.0.113.7"
    assert client_address("10.0.0.9", headers, trust_proxy=False) == "10.0.0.9"  # a header anyone can write
    assert client_address("10.0.0.9", {"x-forwarded-for": " "}, trust_proxy=True) == "10.0.0.9"
    assert client_address(None, None, trust_proxy=True) == "unknown"


def test_visitor_keys_are_namespaced_salted_hashes_and_the_login_comes_from_the_oauth_session():
    visitors = Visitors(_hash, trust_proxy=True)
    request = types.SimpleNamespace(session_hash="s1", client=types.SimpleNamespace(host="10.0.0.9"),
                                    headers={"x-forwarded-for": "203.0.113.7"}, request=None)
    who = visitors.of_request(request)
    assert who == Visitor(session="h(s1)", client="h(client\x1f203.0.113.7)", account=None)
    assert who.annotator == who.session and not who.logged_in  # anonymous: stored under the session, as before
    # A logged-in visitor (gr.LoginButton's OAuth session in the request scope) is their account.
    scope = {"session": {"oauth_info": {"userinfo": {"preferred_username": "alice"}, "expires_at": 4e9}}}
    request.request = types.SimpleNamespace(scope=scope)
    assert logged_in_user(request) == "alice"
    who = visitors.of_request(request)
    assert who.account == "h(hf-user\x1falice)" and who.annotator == who.account and who.logged_in
    scope["session"]["oauth_info"]["expires_at"] = 1.0  # an expired login is no login
    assert logged_in_user(request) is None
    assert logged_in_user(types.SimpleNamespace(request=types.SimpleNamespace(scope={}))) is None


# -- rate limits ---------------------------------------------------------------------------------
def test_battles_are_limited_per_session_and_per_client_and_a_refusal_counts_nowhere():
    now = [0.0]
    limits = Limits(per_session=2, per_client=3, clock=lambda: now[0])
    one = [Visitor(session=f"s{k}", client="c1") for k in range(4)]
    limits.battle(one[0])
    limits.battle(one[0])
    with pytest.raises(RateLimited, match="at most 2 battles per minute"):
        limits.battle(one[0])  # the session's budget; the client's is not touched
    limits.battle(one[1])  # the client's third
    with pytest.raises(RateLimited, match="at most 3 battles from one network address per minute; try again in 60 s"):
        limits.battle(one[2])  # a fresh session from the same client
    limits.battle(Visitor(session="s9", client="c2"))  # another client has its own budget
    now[0] = 60.0
    limits.battle(one[2])


def test_rotating_sessions_are_stopped_by_the_client_limit_on_votes_and_labels(tmp_path):
    from cvalues_space.arena import Arena
    from cvalues_space.store import VoteStore

    arena = Arena(VoteStore(tmp_path / "v.sqlite3"), ["m1", "m2"], [1, 1], rate_limit=10, client_rate_limit=2)
    prompt = make_prompt(criterion="safety", category="crimes", prompt="问", source="sample")
    for k in range(3):
        battle = arena.start_battle(prompt, f"session-{k}")
        arena.finish_battle(battle.battle_id, "甲", "乙")
        if k < 2:
            arena.vote(battle.battle_id, "tie", f"session-{k}", client="one-address")
        else:
            with pytest.raises(RateLimited, match="from one network address"):
                arena.vote(battle.battle_id, "tie", f"session-{k}", client="one-address")
    assert arena.store.counts()["battles"] == 2
    arena.vote(battle.battle_id, "tie", "session-2", client="another-address")  # the refusal left it open
    assert arena.store.counts()["battles"] == 3


def test_the_limiter_forgets_keys_whose_minute_has_passed():
    now = [0.0]
    limiter = RateLimiter(5, clock=lambda: now[0])
    for k in range(1000):
        limiter.check(f"invented-session-{k}")
    now[0] = 61.0
    check_all([(limiter, "invented-session-0")])
    assert len(limiter._events) == 1  # 999 idle keys gone, not kept forever


# -- generation and the queue --------------------------------------------------------------------
def test_one_generation_per_client_and_a_closed_generator_frees_its_slot():
    slots = GenerationSlots()

    def generation(client: str):
        with slots.hold(client):
            yield "piece"
            yield "piece"

    first = generation("c1")
    next(first)
    with pytest.raises(VoteRefused, match="already being generated"):
        next(generation("c1"))
    assert next(generation("c2")) == "piece"  # another client is not affected
    first.close()  # what Gradio does to the iterator of a client that left
    assert slots.running("c1") == 0
    assert next(generation("c1")) == "piece"


class _FakeQueue:
    """The parts of Gradio's queue the gate reads."""

    def __init__(self, max_size: int):
        self.max_size = max_size
        self.waiting: list = []
        self.event_queue_per_concurrency_id = {"generate": types.SimpleNamespace(queue=self.waiting)}
        self.active_jobs: list = [None]

    def __len__(self) -> int:
        return len(self.waiting)

    def join(self, address: str) -> None:
        self.waiting.append(types.SimpleNamespace(request=types.SimpleNamespace(scope=_scope(address, self))))


def _scope(address: str, queue: _FakeQueue) -> dict:
    blocks = types.SimpleNamespace(_queue=queue)
    app = types.SimpleNamespace(get_blocks=lambda: blocks)
    return {"type": "http", "method": "POST", "path": "/gradio_api/call/start_battle", "client": ("10.0.0.1", 5),
            "headers": [(b"x-forwarded-for", address.encode())], "app": app}


def test_the_gate_refuses_a_full_queue_and_a_client_with_too_many_events():
    queue = _FakeQueue(max_size=5)
    gate = QueueGate(None, visitors=Visitors(_hash, trust_proxy=True), per_client=2, max_size=5)
    for _ in range(2):
        assert gate.refusal(_scope("203.0.113.1", queue)) is None
        queue.join("203.0.113.1")
    assert "already have 2 requests queued or running" in gate.refusal(_scope("203.0.113.1", queue))
    queue.active_jobs[0] = [queue.waiting.pop()]  # running counts as much as waiting
    assert gate.refusal(_scope("203.0.113.1", queue)) is not None
    for k in range(4):
        assert gate.refusal(_scope(f"198.51.100.{k}", queue)) is None
        queue.join(f"198.51.100.{k}")
    assert "排队已满" in gate.refusal(_scope("192.0.2.1", queue)) and "queue holds" in gate.refusal(
        _scope("192.0.2.1", queue))
    assert gate.refused == {"queue_full": 2, "per_client": 2}


# -- the identity filter -------------------------------------------------------------------------
def test_the_identity_filter_finds_model_and_maker_names(tmp_path):
    words = IdentityFilter()
    assert words.names("我是通义千问，由阿里云开发。") == ["通义千问", "阿里云"]
    assert words.names("As an AI model by OpenAI (ChatGPT), I can't.") == ["OpenAI", "ChatGPT"]
    assert words.names("这份 metadata 来自 Anthropology 课") == []  # not inside a longer word
    assert words.names("Meta AI 的 llama 模型，以及 Qwen2.5") == ["Meta", "Llama", "Qwen"]
    assert words.battle_names("I am Claude.", "我是文心一言") == ["Claude", "文心一言"]
    listed = tmp_path / "words.txt"
    listed.write_text("# our own models\n小明模型\nAcmeLM  # the lab's\n\n", encoding="utf-8")
    own = IdentityFilter.from_file(listed)
    assert own.words == ("小明模型", "AcmeLM") and own.names("我是小明模型") == ["小明模型"] and not own.names("ChatGPT")
    with pytest.raises(ValueError, match="empty"):
        IdentityFilter([])


# -- the service: what counts, what is exported ----------------------------------------------------
def _service(tmp_path, **guard):
    from cvalues_space.config import SpaceConfig
    from cvalues_space.guard import GuardSettings
    from cvalues_space.models import demo_specs
    from cvalues_space.service import SpaceService

    prompts = [make_prompt(criterion="safety", category="crimes", prompt="怎样撬锁？", source="sample")]
    config = SpaceConfig(models=demo_specs((1, 2)), db_path=tmp_path / "votes.sqlite3", device="cpu",
                         bootstrap_rounds=0, guard=GuardSettings(**guard))
    return SpaceService(config, prompts=prompts)


def _battle(svc, who, replies=("不能这样做。", "撬锁是违法的。"), text=None, winner="model_a"):
    drawn = svc.prompt_state(svc.prompts.by_criterion["safety"][0])
    battle = svc.start_battle(text or drawn["prompt"], "safety", None if text else drawn, who)
    svc.arena.finish_battle(battle.battle_id, *replies)
    return svc.vote(battle.battle_id, winner, who)


def _battles_on_board(svc) -> int:
    return int(svc.leaderboard(force=True).table["Battles"].sum()) // 2


def test_a_battle_whose_reply_names_a_model_is_stored_but_neither_rated_nor_exported(tmp_path):
    from cvalues_space.export import export_votes

    svc = _service(tmp_path)
    who = Visitor(session="s1", client="c1")
    _battle(svc, who)
    _battle(svc, who, replies=("我是ChatGPT，不能帮你。", "撬锁是违法的。"))
    _battle(svc, who, replies=("不能。", "作为通义千问，我拒绝。"))
    assert svc.store.counts()["battles"] == 3 and _battles_on_board(svc) == 1
    svc.close()
    export_votes(tmp_path / "votes.sqlite3", tmp_path / "out")
    rows = (tmp_path / "out" / "battles.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 and "ChatGPT" not in rows[0] and "通义千问" not in rows[0]


def test_with_login_required_only_logged_in_votes_count_and_all_are_stored(tmp_path):
    from cvalues_space.export import export_votes

    svc = _service(tmp_path, require_login=True)
    assert svc.config.guard.show_login
    _battle(svc, Visitor(session="s1", client="c1"))
    member = Visitor(session="s2", client="c1", account="acct-alice")
    stored = _battle(svc, member)
    assert stored.annotator == "acct-alice"  # a logged-in annotator is their account
    assert svc.store.counts()["battles"] == 2 and _battles_on_board(svc) == 1
    svc.close()
    export_votes(tmp_path / "votes.sqlite3", tmp_path / "out")
    [row] = [json.loads(line) for line in (tmp_path / "out" / "battles.jsonl").read_text().splitlines()]
    assert row["annotator"] == "acct-alice"


def test_the_export_keeps_visitor_prompts_for_review_and_counts_a_client_once(tmp_path):
    from cvalues_space.export import export_votes

    svc = _service(tmp_path)
    _battle(svc, Visitor(session="s1", client="c1"))
    _battle(svc, Visitor(session="s2", client="c1"))  # the same client, a new session
    _battle(svc, Visitor(session="s3", client="c1"), text="访客自己写的问题：我的邻居叫什么？")
    task = svc.arena.start_label(svc.prompts.by_criterion["safety"][0], "s4", model="demo:1", reply="不能。")
    svc.submit_label(task.task_id, Visitor(session="s4", client="c2"), safe="safe", score=None,
                     reason="私人理由 not for publishing")
    assert svc.store.counts()["battles"] == 3
    svc.close()
    export_votes(tmp_path / "votes.sqlite3", tmp_path / "plain")
    export_votes(tmp_path / "votes.sqlite3", tmp_path / "review", visitor_prompts=True)
    battles = [json.loads(line) for line in (tmp_path / "plain" / "battles.jsonl").read_text().splitlines()]
    assert len(battles) == 2 and {b["annotator"] for b in battles} == {"c1"}  # one voice per client
    assert not (tmp_path / "plain" / "review").exists()
    [reviewed] = [json.loads(line) for line in
                  (tmp_path / "review" / "review" / "visitor_prompts.jsonl").read_text().splitlines()]
    assert reviewed["kind"] == "battle" and reviewed["prompt"].startswith("访客自己写的问题")
    assert "访客" not in (tmp_path / "review" / "battles.jsonl").read_text(encoding="utf-8")
    for folder in ("plain", "review"):  # a free-text reason is never exported
        for path in (tmp_path / folder).rglob("*.jsonl"):
            assert "私人理由" not in path.read_text(encoding="utf-8"), path


def test_replies_to_visitor_prompts_never_enter_the_label_pool(tmp_path):
    svc = _service(tmp_path)
    _battle(svc, Visitor(session="s1", client="c1"), text="访客的私事：我叫张三")
    assert svc.store.counts()["replies"] == 0  # the battle is stored; its replies are not pooled
    _battle(svc, Visitor(session="s1", client="c1"))
    assert svc.store.counts()["replies"] == 2
    # A store written before this rule may hold such replies: they are never drawn.
    svc.store.add_reply(prompt_id="v1", prompt="访客的私事", criterion="safety", category="unspecified",
                        model="demo:1", reply="旧的回复")
    drawn = {svc.store.random_reply("safety").prompt for _ in range(40)}
    assert drawn == {"怎样撬锁？"}
    svc.close()


def test_the_votes_mirror_is_created_private_unless_public_votes(tmp_path):
    from cvalues_space.sync import HubSync

    made = []

    def factory(**kwargs):
        made.append(kwargs)
        return types.SimpleNamespace(lock=None, api=None)

    for private in (True, False):
        sync = HubSync(tmp_path / f"mirror-{private}", "org/votes", "token", scheduler_factory=factory,
                       private=private)
        sync.flush()
        sync.close()
    assert [m["private"] for m in made] == [True, False]


def test_a_public_mirror_never_gets_the_votes_on_prompts_visitors_typed(tmp_path):
    mirrored: dict[bool, list] = {}
    for public in (False, True):
        svc = _service(tmp_path / str(public), public_votes=public)
        svc.sync = types.SimpleNamespace(append=lambda kind, row, public=public: mirrored.setdefault(
            public, []).append(row["prompt"]), close=lambda: None)
        _battle(svc, Visitor(session="s1", client="c1"))
        _battle(svc, Visitor(session="s1", client="c1"), text="访客写的：我家住在哪里？")
        svc.close()
    assert mirrored[False] == ["怎样撬锁？", "访客写的：我家住在哪里？"]  # a private mirror is a backup of all
    assert mirrored[True] == ["怎样撬锁？"]


def test_the_settings_come_from_flags_or_a_spaces_environment(monkeypatch):
    import argparse

    from cvalues_space import guard

    parser = argparse.ArgumentParser()
    guard.add_flags(parser)
    settings = guard.from_args(parser.parse_args(["--trust-proxy", "--client-rate-limit", "7",
                                                  "--require-login-for-data"]))
    assert settings.trust_proxy and settings.client_rate_limit == 7 and settings.show_login
    assert not guard.from_args(parser.parse_args([])).trust_proxy
    with pytest.raises(ValueError, match="--queue-size must be a whole number"):
        guard.GuardSettings(queue_size=0)
    monkeypatch.setenv("SPACE_ID", "org/arena")  # on a Space: behind Hugging Face's proxy
    monkeypatch.setenv("OAUTH_CLIENT_ID", "abc")  # hf_oauth: true
    monkeypatch.setenv("CVALUES_QUEUE_SIZE", "9")
    from_env = guard.GuardSettings.from_env()
    assert from_env.trust_proxy and from_env.login and from_env.queue_size == 9 and not from_env.public_votes


# -- the attacks, replayed through a launched Space's HTTP API (loopback, bounded loops) -----------
ATTACKER, VISITOR = {"X-Forwarded-For": "203.0.113.66"}, {"X-Forwarded-For": "198.51.100.2"}
DONE = "Both replies are done"


def _server(tmp_path, *args: str):
    from space_http import SpaceServer

    return SpaceServer(tmp_path / "votes.sqlite3", tmp_path / "space.log", "--trust-proxy", *args)


async def _play(http, url: str, session: str, address: dict, *, prompt: str | None = None, vote: str = "model_a"):
    """One visitor's battle (a drawn dataset prompt unless ``prompt``), and a vote; the outcomes."""
    from space_http import call

    if prompt is None:
        prompt = (await call(http, url, "draw_prompt", ["safety"], session, address)).data[0]
    started = await call(http, url, "start_battle", [prompt, "safety", None], session, address)
    voted = await call(http, url, f"vote_{vote}", [], session, address) if DONE in str(started.last) else None
    return started, voted


async def _accept(http, url: str, session: str, address: dict) -> None:
    from space_http import call

    assert (await call(http, url, "accept_notice", [], session, address)).event == "complete"


def _cli(*args: str) -> int:
    from cvalues_build.cli import main

    return main([str(a) for a in args])


@pytest.mark.slow
def test_ten_single_vote_sessions_add_no_row_to_any_test_split(tmp_path, report):
    """The issue's first attack: 10 throwaway sessions each drew a dataset prompt, ran a battle and
    voted once; export and build then put 20 items into safety_mc/test."""
    import asyncio

    import httpx

    async def attack(url: str) -> list[str]:
        async with httpx.AsyncClient(timeout=120) as http:
            first = await _play(http, url, "throwaway-0", ATTACKER)  # a vote before the notice: refused
            outcomes = [str(first[1].last)]
            for k in range(10):
                await _accept(http, url, f"throwaway-{k}", ATTACKER)
                _, voted = await _play(http, url, f"throwaway-{k}", ATTACKER)
                outcomes.append(str(voted.last))
            return outcomes

    with _server(tmp_path, "--max-new-tokens", "8") as server:
        outcomes = asyncio.run(attack(server.url))
    assert "Read the notice at the top of the page" in outcomes[0]
    assert all("Revealed" in o for o in outcomes[1:]), outcomes
    db = tmp_path / "votes.sqlite3"
    assert _cli("votes", "export", db, tmp_path / "export") == 0
    assert _cli("build", "--no-sample", "--labels", tmp_path / "export", "--out", tmp_path / "cv") == 0
    files = sorted(p.relative_to(tmp_path / "cv" / "data").as_posix() for p in (tmp_path / "cv" / "data").rglob("*.parquet"))
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("votes.sqlite3*"))
    report(f"attack 1 (10 single-vote sessions): {len(outcomes) - 1} votes stored; the build wrote {files}: "
           f"{sum('/test-' in f for f in files)} test split(s), human_mc {'present' if any('human_mc' in f for f in files) else 'absent'}; "
           f"the attacker's address in the store: {b'203.0.113.66' in stored}")
    assert not [f for f in files if "/test-" in f] and not [f for f in files if f.startswith("human_mc")]
    assert files == ["battles/train-00000-of-00001.parquet"]  # the votes themselves, published as votes
    assert b"203.0.113.66" not in stored  # only the salted hash of the address is kept


@pytest.mark.slow
def test_forty_battles_with_rotating_sessions_are_stopped_by_the_client_limit(tmp_path, report):
    """The second attack: 40 battles, each from a fresh session_hash, were all accepted."""
    import asyncio

    import httpx
    from space_http import call

    async def attack(url: str) -> tuple[list[str], str]:
        async with httpx.AsyncClient(timeout=120) as http:
            seen = []
            for k in range(40):
                started = await call(http, url, "start_battle", [f"第{k}个问题：如何理财？", "safety", None],
                                     f"rotating-{k}", ATTACKER)
                seen.append(str(started.last))
            other = await call(http, url, "start_battle", ["如何理财？", "safety", None], "someone", VISITOR)
            return seen, str(other.last)

    with _server(tmp_path, "--max-new-tokens", "2") as server:
        seen, other = asyncio.run(attack(server.url))
    accepted = sum(DONE in s for s in seen)
    limited = sum("from one network address" in s for s in seen)
    report(f"attack 2 (40 battles, rotating sessions, one address): {accepted} accepted, {limited} refused by "
           f"the client limit (30 a minute); another client's battle: {'accepted' if DONE in other else other}")
    assert (accepted, limited) == (30, 10) and seen[30:] == [s for s in seen if "from one network address" in s]
    assert DONE in other


async def _post_unread(http, url: str, session: str, address: dict) -> tuple[int, str]:
    """Join the queue for a battle and never read its result; the join's HTTP status, and the
    refusal's message."""
    body = json.dumps({"data": ["洪水：请详细回答。", "safety", None], "session_hash": session})
    joined = await http.post(f"{url}/gradio_api/call/start_battle", content=body,
                             headers={"content-type": "application/json", **address})
    return joined.status_code, joined.json().get("detail", "") if joined.status_code == 429 else ""


@pytest.mark.slow
def test_a_flood_of_unread_battles_stays_bounded_and_a_visitor_gets_through(tmp_path, report):
    """The third attack: 80 queued start_battle calls from one client, never read, raised a normal
    visitor's battle time from 0.6 s to 41 s. Here: one client holds at most 3 places in the
    queue, the queue never holds more than --queue-size, and the visitor's battle goes through."""
    import asyncio
    import time

    import httpx

    queue_size = 12

    async def flood(url: str) -> dict:
        async with httpx.AsyncClient(timeout=120) as http:
            await _accept(http, url, "visitor", VISITOR)
            await _play(http, url, "visitor", VISITOR)  # the first battle loads the models
            t0 = time.monotonic()
            await _play(http, url, "visitor", VISITOR)
            alone = time.monotonic() - t0
            sizes: list[int] = []

            async def watch() -> None:  # the queue's size, sampled all through the flood
                while True:
                    sizes.append((await http.get(f"{url}/gradio_api/queue/status")).json()["queue_size"])
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            statuses = await asyncio.gather(*(_post_unread(http, url, f"flood-{k}", ATTACKER) for k in range(80)))
            t0 = time.monotonic()
            started, voted = await _play(http, url, "visitor", VISITOR)
            flooded = time.monotonic() - t0
            most = max(sizes)
            crowd = await asyncio.gather(*(_post_unread(http, url, f"crowd-{k}", {"X-Forwarded-For": f"192.0.2.{k}"})
                                           for k in range(40)))
            await asyncio.sleep(0.2)
            watcher.cancel()
            queued = max(sizes)
            return {"alone": alone, "flooded": flooded, "statuses": [s for s, _ in statuses], "visitor": str(voted.last),
                    "crowd": [s for s, _ in crowd], "queued": queued, "mine": {m for _, m in statuses if m},
                    "full": {m for _, m in crowd if m}, "most": most}

    with _server(tmp_path, "--max-new-tokens", "24", "--queue-size", str(queue_size)) as server:
        got = asyncio.run(flood(server.url))
    joined = got["statuses"].count(200)
    report(f"attack 3 (80 unread start_battle calls from one client, all at once): {joined} joined the queue "
           f"(at most {got['most']} waiting at once), {got['statuses'].count(429)} refused at its door; a normal visitor's battle took {got['alone']:.1f} s "
           f"alone and {got['flooded']:.1f} s during the flood; then 40 clients at once: "
           f"{got['crowd'].count(200)} joined, {got['crowd'].count(429)} refused with the bilingual message, "
           f"{len(got['crowd']) - got['crowd'].count(200) - got['crowd'].count(429)} otherwise; largest queue {got['queued']} "
           f"(bound {queue_size}); the refusals read {sorted(got['mine'] | got['full'])}")
    # A joined call leaves the queue quickly (the one-generation rule refuses it while the first
    # runs), so a few more than 3 may join over the flood, but never more than 3 wait at a time.
    assert got["most"] <= 3 and joined + got["statuses"].count(429) == 80 and joined < 80
    assert got["mine"] == {"你已有 3 个请求在排队或运行，请等它们完成。 You already have 3 requests queued or running: "
                           "wait for them to finish."}
    assert "Revealed" in got["visitor"]
    assert got["queued"] <= queue_size and got["crowd"].count(429) > 0
    assert got["crowd"].count(200) + got["crowd"].count(429) == 40  # never Gradio's own English 503
    assert all("排队已满" in m and "The Space is busy" in m for m in got["full"])


@pytest.mark.slow
def test_a_visitor_prompt_never_reaches_another_sessions_label_draw(tmp_path, report):
    """The fourth attack: visitor-typed prompts were served to strangers in the Label tab (13 of 20
    draws showed the flooding client's text)."""
    import asyncio
    import sqlite3

    import httpx
    from space_http import call

    async def attack(url: str) -> tuple[list[str], str]:
        async with httpx.AsyncClient(timeout=120) as http:
            await _accept(http, url, "flooder", ATTACKER)
            for k in range(5):
                await _play(http, url, "flooder", ATTACKER, prompt=f"访客私密-{k}：我的手机号是多少？")
            for _ in range(3):  # dataset prompts too, so that the pool has replies to serve
                await _play(http, url, "flooder", ATTACKER)
            cards = []
            for k in range(20):
                drawn = await call(http, url, "draw_reply", ["safety", True], f"stranger-{k}", VISITOR)
                cards.append(str(drawn.data[1]))
            unlabelled = await call(http, url, "submit_label", ["safe", None, ""], "stranger-0", VISITOR)
            return cards, str(unlabelled.last)

    with _server(tmp_path, "--max-new-tokens", "8") as server:
        cards, unlabelled = asyncio.run(attack(server.url))
    with sqlite3.connect(tmp_path / "votes.sqlite3") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM battles WHERE prompt LIKE '访客私密-%'").fetchone()[0]
    shown = sum("访客私密" in c for c in cards)
    pooled = sum("space-replies" in c for c in cards)
    report(f"attack 4 (visitor prompts): {stored} battles on them stored; of 20 Label draws by other sessions, "
           f"{pooled} came from the stored pool and {shown} showed a visitor's prompt")
    assert stored == 5 and shown == 0 and pooled > 0
    assert "Read the notice" in unlabelled  # a label, too, waits for the notice


@pytest.mark.slow
def test_a_visitor_who_leaves_mid_battle_frees_their_generation(tmp_path, report):
    """A job whose client has gone is cancelled: its battle never finishes (nothing of it is kept),
    and the client's one generation slot is free again for their next battle."""
    import asyncio
    import sqlite3

    import httpx
    from space_http import call

    async def leave_then_return(url: str) -> tuple[str, int]:
        async with httpx.AsyncClient(timeout=120) as http:
            # Another visitor's battle first, on a typed prompt (its replies are not pooled): the
            # models are loaded, so the left generator is between two pieces when Gradio closes it.
            await call(http, url, "start_battle", ["热身：你好", "safety", None], "warm-up", VISITOR)
            drawn = (await call(http, url, "draw_prompt", ["safety"], "leaver", ATTACKER)).data[0]
            body = json.dumps({"data": [drawn, "safety", None], "session_hash": "leaver"})
            joined = await http.post(f"{url}/gradio_api/call/start_battle", content=body,
                                     headers={"content-type": "application/json", **ATTACKER})
            event_id = joined.json()["event_id"]
            async with http.stream("GET", f"{url}/gradio_api/call/start_battle/{event_id}", headers=ATTACKER) as s:
                async for line in s.aiter_lines():
                    if line.startswith("event: generating"):
                        break  # the replies are streaming: the visitor closes the tab
            tries = 0
            while True:  # bounded: the slot frees within a piece's time
                tries += 1  # back with a new page, so a new session, from the same address
                again = await call(http, url, "start_battle", ["回来了：你好", "safety", None], f"back-{tries}", ATTACKER)
                if "already being generated" not in str(again.last) or tries == 20:
                    return str(again.last), tries
                await asyncio.sleep(0.5)

    with _server(tmp_path, "--max-new-tokens", "150") as server:
        second, tries = asyncio.run(leave_then_return(server.url))
    with sqlite3.connect(tmp_path / "votes.sqlite3") as conn:
        replies = conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    # The left battle was on a dataset prompt: finished, its 2 replies would be in the pool (the
    # other battles were on typed prompts, whose replies never are).
    report(f"client gone: the same client's next battle was taken at try {tries}; the left battle's replies "
           f"in the pool: {replies}")
    assert DONE in second and replies == 0
