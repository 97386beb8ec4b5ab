"""Building the dataset: sources -> records -> validated pairs -> multi-choice items -> Parquet
with a card, and publishing it."""


def sample_prompts():
    """The prompts of the project's built-in sample (a SAMPLE, not CValues data) as PromptRecords,
    or an empty list where the sample file is not shipped."""
    from .sources.sample import SAMPLE_FILE
    from .sources.sample import sample_prompts as read

    return read() if SAMPLE_FILE.exists() else []


def sample_pairs():
    """The pairs of the project's built-in sample (a better and a worse reply to each of its
    prompts) as PairRecords, or an empty list where the sample file is not shipped."""
    from .sources.sample import SAMPLE_FILE, read_sample_pairs

    return list(read_sample_pairs()) if SAMPLE_FILE.exists() else []


def upload_listed(api, folder, manifest, **where):
    """Upload exactly the files ``manifest`` lists, each by its own path, read through a
    hash-checked handle and never through a symlink (``publish.upload_listed``): the dataset's push
    and the Space's bundle push the same way."""
    from .publish import upload_listed as upload

    return upload(api, folder, manifest, **where)
