"""The Gradio page: arena, label and leaderboard tabs. UI only; the rules live in service.py.
Components that people act on carry ``cv-*`` element ids: stable hooks for the browser test.

Prompts and model output are never interpreted as markup: replies go into plain-text Textboxes,
and the prompt card is built with ``html.escape`` (see prompts.render_prompt_card).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import WINNERS
from cvalues_build.core.rubric import RUBRIC_MARKDOWN as RUBRIC

from .abuse import QueueGate
from .arena import VoteRefused
from .config import SpaceConfig
from .limits import MAX_BODY_BYTES, MAX_FILE_BYTES, UPLOAD_CACHE, BodyLimit
from .markup import md_text
from .privacy import ACKNOWLEDGED, check_acknowledged, notice
from .prompts import MAX_PROMPT_CHARS, QUESTIONS, render_prompt_card
from .service import SpaceService

CRITERIA = [("安全 Safety", tx.SAFETY), ("责任 Responsibility", tx.RESPONSIBILITY)]
SCORES = [(str(k), k) for k in range(1, 11)]
# The four votes are core's WINNERS (model_a, model_b, tie, both_bad): button text and reveal words.
VOTES = tuple(zip(WINNERS, ("👈 A 更好 · A is better", "👉 B 更好 · B is better", "🤝 平局 · Tie",
                            "👎 都不好 · Both bad"), strict=True))
VOTE_WORDS = dict(zip(WINNERS, ("A", "B", "平局 tie", "都不好 both bad"), strict=True))
INTRO = """# CValues Arena · 中文大模型价值观评测
两个匿名模型回答同一个问题，你来评判哪个更**安全**或更**负责任**；投票后才揭晓模型名称。
Two anonymous models answer the same prompt; judge which is safer or more responsible. Names are revealed
only after your vote. Votes feed the leaderboard and the CValues multi-choice data
([arXiv 2307.09705](https://arxiv.org/abs/2307.09705)).
"""
CSS = """
.cv-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 14px;}
.cv-meta {font-size: 0.85em; margin-bottom: 6px; color: var(--body-text-color-subdued);}
.cv-tag {display: inline-block; border-radius: 4px; padding: 1px 6px; margin-right: 6px;
         background: var(--color-accent-soft);}
.cv-src {font-family: var(--font-mono);}
.cv-prompt {white-space: normal; font-size: 1.05em;}
"""


def launch_kwargs(service: SpaceService | None = None) -> dict[str, Any]:
    """Everything ``launch()`` needs, for the CLI and the bundle's app.py alike: theme and CSS
    (``launch()`` arguments in Gradio 6), the request bounds of limits.py and, given the service,
    the queue's per-client gate (abuse.py)."""
    from starlette.middleware import Middleware

    middleware = [Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)]
    if service is not None:
        guard = service.config.guard
        middleware.append(Middleware(QueueGate, visitors=service.visitors, per_client=guard.per_client_pending,
                                     max_size=guard.queue_size))
    return {"css": CSS, "theme": gr.themes.Soft(primary_hue="orange"), "max_file_size": MAX_FILE_BYTES,
            "app_kwargs": {"middleware": middleware}}


def queue_kwargs(config: SpaceConfig) -> dict[str, Any]:
    """``queue()``'s bound, and no way around the queue: ``api_open`` (on by default off Spaces)
    would let ``/run/<api_name>`` call a function directly, past the queue and its bounds."""
    return {"max_size": config.guard.queue_size, "api_open": False}


def _session(request: gr.Request | None) -> gr.Request | None:
    """What the service knows a visitor by: the request, with its session, client address and login
    (the service hashes them; see clients.py)."""
    return request


def _buttons(enabled: bool) -> list[Any]:
    return [gr.Button(interactive=enabled) for _ in VOTES]


def _reveal(battle: Any) -> str:
    return (f"### 揭晓 Revealed\n**Model A** = {md_text(battle.model_a)} · "
            f"**Model B** = {md_text(battle.model_b)} · 你的选择 your vote: **{VOTE_WORDS[battle.winner]}**\n\n"
            "谢谢！Thanks — start another battle to keep going.")


def _question(criterion: str) -> str:
    return f"### {QUESTIONS[criterion]}"


def _refused(err: VoteRefused, skipped: int) -> tuple[Any, ...]:
    """What a refused request shows: its message once, in the status line beside the button that
    was pressed, and nothing else changed (no toast, no error badges on the outputs)."""
    return (*[gr.skip()] * skipped, f"⛔ {md_text(str(err))}")


def build_app(config: SpaceConfig, service: SpaceService | None = None) -> gr.Blocks:
    """The whole page for ``config``; ``service`` (the back end) may be passed in, as tests do."""
    svc = service or SpaceService(config)
    generate = {"concurrency_limit": config.concurrency_limit, "concurrency_id": "generate"}
    with gr.Blocks(title=config.title, delete_cache=UPLOAD_CACHE) as demo:
        gr.Markdown(INTRO)
        acknowledged = _notice(config)
        with gr.Tabs(overflow_behavior="wrap"):  # on a phone every tab stays in sight (no "⋯" menu)
            with gr.Tab("⚔️ 竞技场 Arena", id="arena"):
                voted = _arena_tab(svc, generate, acknowledged)
            with gr.Tab("🏷️ 标注 Label", id="label"):
                labelled = _label_tab(svc, generate, acknowledged)
            with gr.Tab("🏆 排行榜 Leaderboard", id="leaderboard"):
                board, refresh = _leaderboard_tab(svc)
        for event in (*voted, labelled):  # a new vote or label shows on the board at once
            event.then(refresh, None, board, api_visibility="private")
        demo.load(refresh, None, board, api_visibility="private")
    return demo


def _notice(config: SpaceConfig) -> Any:
    """What is stored and published, above the tabs, with the button that acknowledges it (and the
    optional Hugging Face login); returns the session's acknowledgement, which votes check."""
    acknowledged = gr.State(False)
    words = notice(public_votes=config.guard.public_votes, login=config.guard.show_login)
    with gr.Group(elem_id="cv-notice"):
        text = gr.Markdown(words)
        with gr.Row():
            accept = gr.Button("✅ 我已阅读 · I have read it", variant="secondary", elem_id="cv-consent")
            if config.guard.show_login:
                gr.LoginButton(elem_id="cv-login")
    # The reply carries the notice itself: an API client that acknowledges it has been sent it.
    accept.click(lambda: (True, gr.Button(ACKNOWLEDGED, interactive=False), words), None,
                 [acknowledged, accept, text], api_name="accept_notice")
    return acknowledged


def _arena_tab(svc: SpaceService, generate: dict[str, Any], acknowledged: Any) -> list[Any]:
    """Draw or write a prompt, watch two anonymous replies stream, vote; returns the vote events."""
    battle_id, drawn = gr.State(""), gr.State(None)
    with gr.Row(equal_height=True):
        criterion = gr.Radio(CRITERIA, value=tx.SAFETY, label="评测维度 Criterion", scale=2)
        draw = gr.Button("🎲 抽一个问题 · Draw a prompt", scale=1)
    prompt = gr.Textbox(label=f"问题 Prompt — 可修改或自己写，最多 {MAX_PROMPT_CHARS} 字 · edit it or write your own",
                        lines=3, max_length=MAX_PROMPT_CHARS, elem_id="cv-prompt")
    start = gr.Button("⚔️ 开始对战 · Start battle", variant="primary", elem_id="cv-start")
    status = gr.Markdown(elem_id="cv-status")
    card = gr.HTML(render_prompt_card(None), elem_id="cv-card")
    with gr.Row():
        reply_a = gr.Textbox(label="Model A", lines=10, max_lines=20, interactive=False, elem_id="cv-reply-a")
        reply_b = gr.Textbox(label="Model B", lines=10, max_lines=20, interactive=False, elem_id="cv-reply-b")
    question = gr.Markdown(_question(tx.SAFETY))
    with gr.Row():
        vote_buttons = [gr.Button(text, interactive=False, elem_id=f"cv-vote-{key}") for key, text in VOTES]
    reveal = gr.Markdown(elem_id="cv-reveal")

    def on_draw(crit: str) -> tuple[Any, ...]:
        try:
            record = svc.draw_prompt(crit)
        except VoteRefused as err:
            return _refused(err, 3)
        return record.prompt, svc.prompt_state(record), render_prompt_card(record), ""

    def on_start(text: str, crit: str, drawn_state: dict | None, request: gr.Request):
        try:  # one generation per client at a time; the slot frees when this ends or the visitor leaves
            with svc.generating(_session(request)):
                yield from _battle_updates(svc, text, crit, drawn_state, _session(request))
        except VoteRefused as err:
            yield _refused(err, 6 + len(VOTES))

    def vote_for(winner: str):
        def on_vote(bid: str, ack: bool, request: gr.Request):
            try:
                check_acknowledged(ack)
                battle = svc.vote(bid, winner, _session(request))
            except VoteRefused as err:
                return _refused(err, len(VOTES))
            return (*_buttons(False), _reveal(battle))
        return on_vote

    criterion.change(_question, criterion, question, api_visibility="private")
    draw.click(on_draw, criterion, [prompt, drawn, card, status], api_name="draw_prompt")
    start.click(on_start, [prompt, criterion, drawn], [battle_id, card, reply_a, reply_b, question, *vote_buttons,
                                                      reveal, status], api_name="start_battle",
                # Raw inputs: the service checks their kinds (a Textbox would turn {"a": 1} into "{'a': 1}").
                preprocess=False, **generate)
    return [button.click(vote_for(winner), [battle_id, acknowledged], [*vote_buttons, reveal],
                         api_name=f"vote_{winner}")
            for (winner, _), button in zip(VOTES, vote_buttons, strict=True)]


def _battle_updates(svc: SpaceService, text: str, crit: str, drawn_state: dict | None, session: Any):
    """The arena's outputs as a battle starts, streams and ends (battle id, card, both replies,
    question, vote buttons, reveal, status)."""
    try:
        battle = svc.start_battle(text, crit, drawn_state, session)
    except VoteRefused as err:
        yield _refused(err, 6 + len(VOTES))
        return
    record, skip = battle.prompt, [gr.skip()] * len(VOTES)
    yield (battle.battle_id, render_prompt_card(record), "", "", _question(record.criterion), *_buttons(False),
           "", "⏳ 生成中… Generating; the vote buttons unlock when both replies are done.")
    texts = ["", ""]
    try:
        for texts in svc.battle_replies(battle):
            yield gr.skip(), gr.skip(), texts[0], texts[1], gr.skip(), *skip, gr.skip(), gr.skip()
    except VoteRefused as err:  # a model's server failed mid-reply: no vote on this battle
        yield gr.skip(), gr.skip(), texts[0], texts[1], gr.skip(), *skip, gr.skip(), f"⛔ {md_text(str(err))}"
        return
    # The card is sent again so that the final result (what API clients get) is complete.
    yield (gr.skip(), render_prompt_card(record), texts[0], texts[1], _question(record.criterion),
           *_buttons(True), gr.skip(), "✅ 两个回复都已完成，请投票。Both replies are done: cast your vote.")


def _rating_widgets(crit: str) -> tuple[Any, Any, Any]:
    """The rating inputs for ``crit``, both unset: an untouched form has nothing to submit."""
    is_safety = crit == tx.SAFETY
    return (gr.Radio(visible=is_safety, value=None), gr.Radio(visible=not is_safety, value=None),
            gr.Markdown(visible=not is_safety))


def _label_tab(svc: SpaceService, generate: dict[str, Any], acknowledged: Any) -> Any:
    """Label one reply at a time (safe/unsafe, or a 1–10 score); returns the submit event."""
    task_id = gr.State("")
    with gr.Row(equal_height=True):
        criterion = gr.Radio(CRITERIA, value=tx.SAFETY, label="评测维度 Criterion", scale=2)
        use_pool = gr.Checkbox(label="从已生成的回复中抽取 · reuse a stored reply", value=False, scale=1)
        draw = gr.Button("🎲 抽一条回复 · Draw a reply", scale=1, elem_id="cv-label-draw")
    card = gr.HTML(render_prompt_card(None), elem_id="cv-label-card")
    reply = gr.Textbox(label="回复 Reply", lines=8, max_lines=20, interactive=False, elem_id="cv-label-reply")
    safe = gr.Radio([("安全 Safe", "safe"), ("不安全 Unsafe", "unsafe")], label="这条回复安全吗？ Is this reply safe?",
                    elem_id="cv-label-safe")
    # Ten buttons with none chosen, not a slider: a slider always holds a value, so an untouched one was saved as 5.
    score = gr.Radio(SCORES, value=None, label="负责任程度 Responsibility score (1–10)", visible=False,
                     elem_id="cv-label-score")
    rubric = gr.Markdown(RUBRIC, visible=False)
    reason = gr.Textbox(label="理由（可选）Reason (optional)", lines=2, max_length=500, elem_id="cv-label-reason")
    submit = gr.Button("提交 · Submit label", variant="primary", interactive=False, elem_id="cv-label-submit")
    status = gr.Markdown(elem_id="cv-label-status")

    def on_draw(crit: str, pool: bool, request: gr.Request):
        try:  # one generation per client at a time, as in the arena
            with svc.generating(_session(request)):
                yield from draw_updates(crit, pool, request)
        except VoteRefused as err:
            yield _refused(err, 8)

    def draw_updates(crit: str, pool: bool, request: gr.Request):
        try:
            task, pool_empty = svc.draw_label(crit, pool, _session(request))
        except VoteRefused as err:
            yield _refused(err, 8)
            return
        note = "（尚无已存回复，改为现场生成 · no stored reply yet, generating one）" if pool_empty else ""
        # Every widget starts afresh for the new reply: the previous reply's reason is cleared.
        yield (task.task_id, render_prompt_card(task.prompt), task.reply, *_rating_widgets(crit), "",
               gr.Button(interactive=bool(task.reply)), note)
        if task.reply:  # a stored reply: ready at once
            return
        text = ""
        for text in svc.label_reply(task):
            yield gr.skip(), gr.skip(), text, *[gr.skip()] * 6
        yield gr.skip(), gr.skip(), text, *[gr.skip()] * 4, gr.Button(interactive=True), note

    def on_submit(tid: str, choice: str | None, value: int | None, why: str, ack: bool, request: gr.Request):
        try:
            check_acknowledged(ack)
            label = svc.submit_label(tid, _session(request), safe=choice, score=value, reason=why)
        except VoteRefused as err:
            return _refused(err, 1)
        what = ("安全 safe" if label.safe else "不安全 unsafe") if label.safe is not None else f"{label.score}/10"
        return gr.Button(interactive=False), (f"✅ 已记录 Recorded: **{what}** · 模型 model {md_text(label.model)}. "
                                              "抽下一条 Draw the next reply.")

    criterion.change(_rating_widgets, criterion, [safe, score, rubric], api_visibility="private")
    draw.click(on_draw, [criterion, use_pool], [task_id, card, reply, safe, score, rubric, reason, submit, status],
               api_name="draw_reply", **generate)
    return submit.click(on_submit, [task_id, safe, score, reason, acknowledged], [submit, status], api_name="submit_label",
                        preprocess=False)  # raw inputs: the service refuses 5.9 rather than round it


def _leaderboard_tab(svc: SpaceService) -> tuple[list[Any], Any]:
    """The board and its refresh: (its output components, the function that fills them)."""
    gr.Markdown("Bradley–Terry 评分（400·θ+1000，95% 自助法区间）与人工标注、自动多选题得分并列。"
                " Human ratings beside `cvalues eval` multi-choice scores; Kendall τ shows where they disagree.")
    refresh_button = gr.Button("🔄 刷新 · Refresh")
    table = gr.Dataframe(label="Leaderboard", interactive=False, wrap=False, elem_id="cv-board")
    plot = gr.Plot(label="Ratings with 95% intervals", show_label=False, elem_id="cv-plot")  # the figure has a title
    agreement = gr.Dataframe(label="Human vs automatic ranking (Kendall τ)", interactive=False)
    human = gr.Dataframe(label="Human labels: agreement (Krippendorff α) and counts", interactive=False,
                         elem_id="cv-human")
    domains = gr.Dataframe(label="Responsibility score per domain (quorum labels)", interactive=False)
    judge = gr.Dataframe(label="LLM judge vs human quorum labels: κ and accuracy per scenario, Spearman ρ and MAE "
                         "per domain (`--judged`)", interactive=False, elem_id="cv-judge")
    note = gr.Markdown()
    outputs = [table, plot, agreement, human, domains, judge, note]

    def refresh() -> tuple[Any, ...]:
        from .leaderboard import ratings_figure

        board = svc.leaderboard()
        lines = [f"- ℹ️ {n}" for n in board.notes] + [f"- ⚠️ {md_text(w)}" for w in board.warnings]
        return board.table, ratings_figure(board.ratings), board.agreement, board.human, board.domains, board.judge, "\n".join(lines)

    refresh_button.click(refresh, None, outputs, api_name="leaderboard")
    return outputs, refresh
