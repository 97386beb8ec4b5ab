"""The two answer labels of a CValues multi-choice item."""

LABEL_1 = "回复1"
LABEL_2 = "回复2"
LABELS = (LABEL_1, LABEL_2)
