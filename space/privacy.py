"""What a visitor is told before their first vote, and the rule that they were told.

The page shows the notice above the tabs, with a button to acknowledge it. The acknowledgement is
kept in the visitor's server-side session state (``gr.State``, which a client cannot set from
outside), and every vote and label checks it: a vote from a session that has not acknowledged the
notice is refused with a message pointing at it. API clients acknowledge through the
``accept_notice`` endpoint, whose reply is the notice itself.
"""

from __future__ import annotations

from .refusals import VoteRefused

DATA_LICENSE = "Apache-2.0"  # the CValues dataset's license (cvalues_build.dataset.card)


def notice(*, public_votes: bool, login: bool) -> str:
    """The notice, in Chinese and English, for a Space with these settings."""
    mirror_zh = "公开的" if public_votes else "私有的"
    mirror_en = "a public" if public_votes else "a private"
    login_zh = "登录后，只保存你的 Hugging Face 账号名的加盐哈希。" if login else ""
    login_en = " If you log in, only a salted hash of your Hugging Face username is kept." if login else ""
    return f"""### 投票前请阅读 · Please read before your first vote
**保存什么：** 你的投票或标注、问题和两个回复、时间，以及你的会话和网络地址的加盐哈希（不保存 IP 地址本身）。{login_zh}你自己输入的问题会被保存，仅供维护者审核，不会展示给其他访客。
**公开什么：** 投票和标注（不含你填写的理由）保存在本 Space 的数据库中；若本 Space 设置了同步，也会同步到{mirror_zh} Hugging Face 数据集仓库。经审核且多人一致（quorum）后，它们可能进入 CValues 数据集，以 **{DATA_LICENSE}** 许可发布。请勿输入个人信息。

**What is stored:** your votes and labels, the prompt and both replies, the time, and salted hashes of
your session and network address (never the address itself).{login_en} Prompts you type are stored for
the maintainers' review only and are never shown to other visitors.
**What is published:** votes and labels (never your free-text reason) are kept in this Space's database
and, where the Space mirrors them, in {mirror_en} Hugging Face dataset repository; once reviewed and agreed
by a quorum of annotators they may enter the CValues dataset, published under the **{DATA_LICENSE}**
license. Please do not type personal information."""


ACKNOWLEDGED = "✅ 已阅读，谢谢！ Noted, thank you: your votes and labels are now accepted."
NOT_ACKNOWLEDGED = ("请先阅读页面顶部的说明，并点击「我已阅读」。 Read the notice at the top of the page and press "
                    "\"I have read it\" before your first vote or label.")


def check_acknowledged(acknowledged: object) -> None:
    """Refuse a vote or label from a session that has not acknowledged the notice."""
    if acknowledged is not True:
        raise VoteRefused(NOT_ACKNOWLEDGED)
