"""cvalues: the CValues benchmark (Xu et al., 2023, arXiv 2307.09705) as a Hugging Face bundle.

Data flows one way: sources -> records -> pairs -> multi-choice items -> validated ->
written dataset -> predictions -> scores -> leaderboard.
"""

__version__ = "0.1.0"
