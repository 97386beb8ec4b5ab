"""Models behind one interface (see ``base.Backend``), named as ``--model`` and the Space's models
file name them (see ``registry``). The public API for everything that runs a model::

    backend = open_backend("demo:1", device="cpu")
    replies = backend.generate(prompts, GenerationSettings(max_new_tokens=64))
    for piece in backend.stream(prompt, GenerationSettings(do_sample=True, temperature=0.7)): ...
    scores = backend.loglik(contexts, ["1", "2"])   # where backend.supports_loglik
"""

from ..models import DTYPES
from .base import Backend, BackendError, GenerationSettings, LoglikUnsupported, Progress, parse_batch_size
from .registry import BACKENDS, DEFAULT_BACKEND, LazyBackend, ModelRef, check_model, open_backend, parse_model

__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "DTYPES", "Backend", "BackendError", "GenerationSettings", "LazyBackend", "LoglikUnsupported",
    "ModelRef", "Progress", "check_model", "open_backend", "parse_batch_size", "parse_model",
]
