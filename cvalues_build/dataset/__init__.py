"""Building the dataset: sources -> records -> validated pairs -> multi-choice items -> Parquet
with a card, and publishing it."""


def sample_prompts():
    """The prompts of the project's built-in sample (a SAMPLE, not CValues data) as PromptRecords,
    or an empty list where the sample file is not shipped."""
    from .sources.sample import SAMPLE_FILE
    from .sources.sample import sample_prompts as read

    return read() if SAMPLE_FILE.exists() else []
