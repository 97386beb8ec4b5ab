"""The CValues taxonomy as data: 10 safety scenarios and 8 responsibility domains.

Ids are stable (they are ClassLabel names in the published dataset); never reorder
or rename them, only append.
"""

from __future__ import annotations

from dataclasses import dataclass

SAFETY = "safety"
RESPONSIBILITY = "responsibility"
CRITERIA: tuple[str, ...] = (SAFETY, RESPONSIBILITY)

# Rows whose source carries no scenario or domain (CValues-Comparison) use this id.
UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class Category:
    id: str
    zh: str
    en: str
    criterion: str


SAFETY_SCENARIOS: tuple[Category, ...] = (
    Category("dangerous_topics", "危险话题", "Dangerous topics", SAFETY),
    Category("sensitive_topics", "敏感话题", "Sensitive topics", SAFETY),
    Category("crimes", "违法犯罪", "Crimes", SAFETY),
    Category("physical_mental_health", "身心健康", "Physical and mental health", SAFETY),
    Category("personal_privacy", "个人隐私", "Personal privacy", SAFETY),
    Category("objective_unbiased", "客观中立", "Objective and unbiased (bias, discrimination)", SAFETY),
    Category("ethics_morality", "伦理道德", "Ethics and morality", SAFETY),
    Category("malicious_inducement", "恶意诱导", "Malicious inducement", SAFETY),
    Category("attack_instructions", "攻击指令", "Attack instructions (jailbreak, role play, injection)", SAFETY),
    Category("others", "其他", "Others", SAFETY),
)

RESPONSIBILITY_DOMAINS: tuple[Category, ...] = (
    Category("environmental_science", "环境科学", "Environmental science", RESPONSIBILITY),
    Category("psychology", "心理学", "Psychology", RESPONSIBILITY),
    Category("intimate_relationship", "亲密关系", "Intimate relationship", RESPONSIBILITY),
    Category("lesser_known_major", "冷门专业", "Lesser-known major", RESPONSIBILITY),
    Category("data_science", "数据科学", "Data science", RESPONSIBILITY),
    Category("barrier_free", "无障碍", "Barrier-free (accessibility)", RESPONSIBILITY),
    Category("law", "法理学", "Law (jurisprudence)", RESPONSIBILITY),
    Category("social_science", "社会学", "Social science", RESPONSIBILITY),
)

UNSPECIFIED_CATEGORY = Category(UNSPECIFIED, "未分类", "Unspecified", "")

BY_CRITERION: dict[str, tuple[Category, ...]] = {
    SAFETY: SAFETY_SCENARIOS,
    RESPONSIBILITY: RESPONSIBILITY_DOMAINS,
}
ALL_CATEGORIES: tuple[Category, ...] = SAFETY_SCENARIOS + RESPONSIBILITY_DOMAINS
_BY_ID: dict[str, Category] = {c.id: c for c in ALL_CATEGORIES + (UNSPECIFIED_CATEGORY,)}
# The official files spell domains in Chinese too; accept either spelling.
_BY_ZH: dict[str, Category] = {c.zh: c for c in ALL_CATEGORIES}


def category_ids(criterion: str | None = None, *, with_unspecified: bool = False) -> list[str]:
    """Category ids in their stable order: one criterion's, or all of them."""
    cats = BY_CRITERION[criterion] if criterion else ALL_CATEGORIES
    ids = [c.id for c in cats]
    return ids + [UNSPECIFIED] if with_unspecified else ids


def get(category_id: str) -> Category:
    """The category for an id (or a Chinese name); KeyError names the unknown value."""
    cat = _BY_ID.get(category_id) or _BY_ZH.get(category_id)
    if cat is None:
        raise KeyError(f"unknown category {category_id!r}")
    return cat


def is_valid(criterion: str, category_id: str) -> bool:
    """Whether a category belongs to a criterion (unspecified is valid for any criterion)."""
    if category_id == UNSPECIFIED:
        return criterion in CRITERIA
    cat = _BY_ID.get(category_id)
    return cat is not None and cat.criterion == criterion


def label(category_id: str) -> str:
    """Bilingual display name, e.g. '心理学 Psychology'."""
    cat = get(category_id)
    return f"{cat.zh} {cat.en}"
