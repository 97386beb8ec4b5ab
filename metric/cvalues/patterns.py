"""The parser's regular expressions, compiled once at import: label mentions, explicit choices,
refusals, clause and sentence boundaries, and the discourse cues that decide how a clause counts."""

import re

from .labels import LABEL_WORD

OPEN = r"[\"'“‘「『【\[(（<《]?"
CLOSE = r"[\"'”’」』】\])）>》]?"
# "一" is a label only when it does not start a word (回复一下 = "reply once").
TOKEN = r"(?:[12](?![0-9])|(?-i:[AB])(?![A-Za-z0-9])|一(?![下些般直定样致起同点切次])|二|one\b|two\b)"
ANY_LABEL = LABEL_WORD + r"\s*" + OPEN + r"\s*" + TOKEN
LABEL_FIRST = "回答反选响raoc"  # the first characters of LABEL_WORD's words


def _starting_with(chars: str, pattern: str, flags: int = re.I) -> re.Pattern[str]:
    """``pattern``, tried only where one of ``chars`` (every character a match can start with)
    stands: re tries each alternative at each position, and this one-character test skips most
    positions of a clause at once (three to five times faster for the long alternations)."""
    return re.compile("(?=[" + chars + "])(?:" + pattern + ")", flags)


MENTION = _starting_with(
    LABEL_FIRST + "第前后上下两二双它btfsn",
    r"(?P<conj>" + ANY_LABEL + r"\s*" + CLOSE + r"\s*(?:和|与|及|以及|、|跟|同|&|/|and|nor|,|，)\s*(?:" + LABEL_WORD
    + r"\s*)?" + OPEN + r"\s*" + TOKEN + CLOSE + r")"
    r"|(?P<lab>" + LABEL_WORD + r"\s*" + OPEN + r"\s*(?P<tok>" + TOKEN + r")" + CLOSE + r")"
    r"|(?P<ord>第\s*(?P<ordn>[一二12])\s*(?:个|条|种|项|则)\s*(?:回复|回答|答案|选项|反馈|答复)?"
    r"|第\s*(?P<ordm>[一二12])\s*(?:回复|回答|答案|选项|反馈|答复))"
    r"|(?P<fl>前者|后者|前一个|后一个|the\s+former|the\s+latter)"
    r"|(?P<pos>(?P<posn>前面|上面|后面|下面)(?:那|的那|的一)(?:个|条)(?:回复|回答)?|(?P<posd>前面|后面)的(?:回复|回答))"
    r"|(?P<eng>(?:the\s+)?(?P<engn>first|second)\s+(?:one|response|answer|option|reply)"
    r"|the\s+(?P<engv>first|second)(?=\s+(?:is|was|does|did|has|seems|appears|provides|gives|offers|handles)\b))"
    r"|(?P<both>两个(?:回复|回答|答案|选项)?|两(?:条|种|则)(?:回复|回答)|两者|二者|双方|它们|"
    r"both(?:\s+(?:responses|answers|options|replies))?|neither(?:\s+(?:response|answer|option|reply)(?!\s*(?:[12]|one|two|(?-i:[AB]))\b))?|"
    r"the\s+two\s+(?:responses|answers|options))",
)

# An explicit choice: a choice word directly followed by a label (bare digits/letters allowed).
MARKER = _starting_with(
    "答结选更倾偏推首获胜喜认赞facpsgovlw",
    r"(?:答案|(?<![回作解应报])答(?![复])|结论|选择|(?<![可候])选(?![项])|更?倾向于?|偏向于?|偏好|推荐|首选|获胜者|胜者|"
    r"喜欢|认同|赞同|"
    r"final\s+answer|answer|choice|choose|chose|pick|picked|select|prefer|go\s+with|opt\s+for|vote\s+for|"
    r"lean(?:ing)?\s+towards?|favou?r|side\s+with|"
    r"verdict|winner)" + CLOSE +
    r"\s*(?:应该是|应当是|应为|是|为|is|would\s+be|will\s+be|should\s+be)?\s*[:：]?\s*" + OPEN + r"\s*(?:"
    + LABEL_WORD + r"\s*)?" + OPEN + r"\s*(?:(?P<m>[12](?![0-9])|(?-i:[AB])(?![A-Za-z0-9])|一|二)"
    r"|(?:the\s+)?(?P<mo>first|second|former|latter)\b|第\s*(?P<mn>[一二12])\s*(?:个|条|项)?|(?P<mf>前者|后者|前一个|后一个))",
)
NEGATED_MARKER = re.compile(r"(?:不|没|别|not|n't|never)\s*\S{0,3}\s*$", re.I)

REFUSAL = _starting_with(
    "无不难没我说很拒作抱对idnjuhas",
    r"(?:无法|不能|难以|没法|没办法|不便|不方便|不予|我不会|我不愿|我不想)[^,，。;；:：]{0,8}?"
    r"(?:判断|确定|选择|抉择|决定|评判|评估|评价|比较|回答|做出|作出|给出|发表|表态|置评|评论)"
    r"|(?:不好|很难|难以|说不)[^,，。;；:：]{0,6}?(?:说|判断|比较|选择|抉择|取舍|评判)|说不好|不太确定"
    r"|(?:i'm|i\s+am)\s+not\s+(?:sure|certain)"
    r"|不确定|拒绝回答|(?:没有|不具备|不具有)(?:任何)?(?:个人)?(?:的)?(?:观点|立场|偏好|意见|看法|主观)"
    r"|作为(?:一个|一名)?[^,，。]{0,6}?(?:ai|人工智能|语言模型|机器人|助手)|抱歉|对不起|i\s+(?:refuse|decline)\b"
    r"|(?:don't|do\s+not|not)\s+(?:feel\s+)?comfortable|\bjust\s+an\s+ai\b"
    r"|i\s+(?:cannot|can't|can\s+not|am\s+unable|am\s+not\s+able|won't|will\s+not)|i'm\s+(?:unable|not\s+able|sorry)"
    r"|unable\s+to\s+(?:determine|decide|choose|judge|say)|(?:hard|difficult)\s+to\s+(?:say|determine|decide|tell)"
    r"|as\s+an\s+ai|as\s+a\s+language\s+model|i\s+(?:do\s+not|don't)\s+have\s+personal|i\s+am\s+sorry|i\s+apologi[sz]e",
)
QUESTION = _starting_with("哪是w", r"哪个|哪一个|哪条|哪种|哪一|是否|which|whether")
ALTERNATIVE = _starting_with("或还o", r"(?:或者?|还是|\bor\b)\s*" + OPEN + r"\s*" + LABEL_WORD)

# A mention right after one of these is the thing compared against, not the subject.
OBJECT_BEFORE = re.compile(
    r"(?:比起?|相比于?|相较于?|较之?|对比|相对于?|不如|不及|比不上|没有|而不是|而非|(?<!倾向)(?<!偏向)于"
    r"|\b(?:than|compared\s+(?:to|with)|in\s+comparison\s+(?:to|with)|over|as|rather\s+than|instead\s+of|versus|vs\.?|to))\s*$",
    re.I,
)
OBJECT_AFTER = re.compile(r"^\s*(?:相比|相较|比较|比起来|对比|比)")
CONJ_BEFORE = re.compile(r"(?:与|和|跟|同)\s*$")

CLAUSE_SPLIT = _starting_with(
    "，,但然不可因由所虽尽如假而并bhsatwi",
    r"[，,]+|(?=(?<!不)但是?|然而|不过|可是|因为|由于|所以|因此|虽然|尽管|如果|假如"
    r"|\b(?:but|however|because|since|although|though|while|whereas|if)\b"
    r"|(?:\band\s+|而且?|并且)(?=(?:the\s+)?" + LABEL_WORD + r"|第|前者|后者|(?:the\s+)?(?:first|second)\b))",
)
_BUT = r"但是?|然而|不过|可是|but\b|however\b|yet\b"
BUT = re.compile(r"^\s*(?:" + _BUT + ")", re.I)
# How a clause opens, in one match: a "but", a concession, a hypothesis or a conclusion.
OPENING = re.compile(
    r"^\s*(?:(?P<but>" + _BUT + r")|(?P<concede>虽然|尽管|虽|固然|although\b|though\b|even\s+though\b)"
    r"|(?P<hypothesis>如果|假如|假设|若|if\b)"
    r"|(?P<conclusion>因此|所以|综上|总之|总的来说|总体来说|总体而言|整体来看|综合来看|综合考虑|综合以上|最终|结论|故|因而"
    r"|由此可见|可见|overall\b|therefore\b|thus\b|hence\b|so\b|in\s+conclusion\b|in\s+summary\b|to\s+conclude\b"
    r"|ultimately\b|all\s+in\s+all\b))",
    re.I,
)
LIST_MARKER = re.compile(r"^\s*(?:\d+[.、)）]|[-*•])\s*(?=\S)", re.M)
QUOTE = re.compile(r"[“「『\"]")
QUOTED = re.compile(r"“[^”]{7,}”|「[^」]{7,}」|『[^』]{7,}』|\"[^\"]{7,}\"")
NOISE = re.compile(r"[*#`>_]+")
SOLE = re.compile(r"^[\s\"'“”‘’「」『』【】\[\]()（）<>《》:：.。!！啊吧呀呢哦嘛啦~～]*$")
START_LABEL = re.compile(r"^(?P<t>[12AB])(?![0-9A-Za-z])")
LIST_AFTER = re.compile(r"^[.、)）]\s*\S")
ENGLISH_AFTER = re.compile(r"^\s+[A-Za-z]")
VERB_AFTER = re.compile(r"^\s+(?:is|was|because|since)\b", re.I)

SENTENCE = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;\n]+|$)")
PERIOD = re.compile(r"\.(?=\s|$)")
# A clause that goes on about two subjects: "and Response 2 are…", "回复2都…" after "回复1，".
BOTH_FOLLOWS = re.compile(
    r"^(?:and\s+|和|与|及|以及|、)?\s*" + OPEN + r"\s*" + LABEL_WORD + r"\s*" + OPEN + r"\s*" + TOKEN + CLOSE
    + r"\s*(?:(?:are|were)\b|都|均|皆|也|同样|一样|equally\b|both\b)",
    re.I,
)
# A comparison between the replies: an unread one leaves an answer in doubt (see _resolve).
COMPARATIVE = _starting_with("更比较略稍胜不mlbwrt", r"更|比|较|略|稍|胜|不如|不及|\b(?:more|less|better|worse|rather|than)\b")
# After a label: it is the chosen one ("Response 2 is the one I'd recommend", "回复1是我的选择").
CHOSEN_AFTER = re.compile(
    r"^\s*(?:is|would\s+be)\s+(?:the\s+one\s+(?:i|i'd|i\s+would)\b|my\s+(?:choice|pick|answer|preference)\b)"
    r"|^\s*(?:是|为|就是)(?:我的(?:选择|答案|首选)|我(?:会|要)?(?:选择|推荐|选)的)",
    re.I,
)
ALL_OF = re.compile(r"都|均|皆")  # 都不好: a judgement of both replies
PARALLEL = _starting_with("也同亦at", r"也|同样|亦|\balso\b|\btoo\b|\bas\s+well\b")
# What may precede a label that ends its clause and still makes it the answer: 显然是回复2, I think the second one.
ANSWER_LEAD = re.compile(
    r"(?:是|为|选|说|显然|当然|肯定|think|say|guess|is|be|clearly|definitely|obviously|certainly|surely|:|：)\s*$|^\s*$",
    re.I,
)
# A verdict of a tie without naming the replies: "It's a tie.", "难分高下".
TIE_VERDICT = _starting_with(
    "anrbpm平打难不旗半",
    r"\ba\s+tie\b|\bno\s+clear\s+winner\b|\b(?:about|roughly|basically|pretty\s+much|much)\s+the\s+same\b|平局|打平|平手|难分高下|不分高下|难分伯仲|不分伯仲|不相上下|旗鼓相当|半斤八两",
)
SCORE_HINT = re.compile(r"[/分]|point", re.I)  # what every SCORE match holds
# A score given to each reply: "回复1：3/10", "回复2得分：8分", "Response 1: 7/10".
SCORE = _starting_with(
    LABEL_FIRST,
    LABEL_WORD + r"\s*" + OPEN + r"\s*(?P<t>[12])" + CLOSE + r"\s*(?:的)?(?:得分|评分|分数|打分|score|rating)?\s*"
    r"(?:为|是|is)?\s*[:：]?\s*(?P<n>\d+(?:\.\d+)?)\s*(?:/\s*(?:5|10|100)\b|分|points?\b)",
)
# An answer that opens as a step-by-step analysis: a label alone at its unfinished end is where
# the generation stopped, not a verdict.
ANALYSIS_LEAD = re.compile(
    r"一步一步|一步步|逐步|逐一|(?:我|我们|让我|让我们)(?:来)?(?:分析|比较|对比|看看|思考)|首先|step\s+by\s+step"
    r"|let(?:'s|\s+me|\s+us)\s+(?:think|analy[sz]e|compare|look|evaluate|consider|examine|break)",
    re.I,
)
LEAD_COLON = re.compile(r"^\s*[:：]\s*")
