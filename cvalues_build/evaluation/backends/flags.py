"""The command-line flags of a served model (``--model openai:NAME``), one set for ``cvalues
eval``, ``cvalues respond`` and ``cvalues judge``. They reach the backend as ``open_backend``
options; a flag left out is not passed, so each backend keeps its own default, and a backend
that takes no such option (hf) refuses it by name.

There is no flag for the API key itself: a key on the command line ends up in shell history and
process lists. ``--api-key-env`` names the environment variable that holds it.
"""

from __future__ import annotations

import argparse
from typing import Any

SERVER_OPTIONS = ("base_url", "api_key_env", "concurrency", "request_timeout", "max_retries")


def add_server_arguments(parser: argparse.ArgumentParser, *, whose: str = "the model") -> None:
    group = parser.add_argument_group(f"served models (openai:NAME): {whose}")
    group.add_argument("--base-url", metavar="URL",
                       help="the server's OpenAI-compatible API, e.g. http://host:8000/v1 (vLLM, SGLang, TGI, "
                            "llama.cpp); default $OPENAI_BASE_URL, else https://api.openai.com/v1")
    group.add_argument("--api-key-env", metavar="VAR",
                       help="environment variable holding the API key (default OPENAI_API_KEY; a local server "
                            "without a key needs none). The key is never written anywhere")
    group.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (default 8)")
    group.add_argument("--request-timeout", type=float, metavar="S",
                       help="seconds to wait for one answer before retrying (default 300)")
    group.add_argument("--max-retries", type=int, metavar="N",
                       help="retries per request on 429, 5xx, timeouts and lost connections, with exponential "
                            "backoff and jitter, honouring Retry-After (default 5)")


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The served-model options that were given on the command line."""
    return {k: getattr(args, k) for k in SERVER_OPTIONS if getattr(args, k, None) is not None}
