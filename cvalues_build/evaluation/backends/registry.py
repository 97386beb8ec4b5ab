"""Model names to backends: ``--model`` on the command line and ``path`` in the Space's models file.

    demo, demo:SEED          the built-in random model (hf backend)
    ORG/NAME, ./folder       a transformers model from the Hub or a folder (hf backend)
    KIND:TARGET              TARGET through the backend registered as KIND (hf:ORG/NAME, ...)

A new backend is one module with a ``Backend`` subclass and one line in ``BACKENDS``. Entries
name their class lazily, so reading this table imports no torch and no HTTP client.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from .base import Backend, BackendError

DEFAULT_BACKEND = "hf"
_PREFIX = re.compile(r"^[a-z][a-z0-9_-]*$")  # how a backend prefix is spelled (not demo, not a drive)


class LazyBackend:
    """A factory for the backend class ``module:attr``, imported on first use."""

    def __init__(self, module: str, attr: str):
        self.module, self.attr = module, attr

    def resolve(self) -> type[Backend]:
        return getattr(import_module(self.module, __package__), self.attr)

    def check(self, target: str) -> None:
        self.resolve().check(target)

    def __call__(self, target: str, **options: Any) -> Backend:
        return self.resolve()(target, **options)


BACKENDS: dict[str, LazyBackend] = {
    "hf": LazyBackend(".hf", "HFBackend"),
    "openai": LazyBackend(".openai_api", "OpenAIBackend"),
}


@dataclass(frozen=True)
class ModelRef:
    """A parsed model name: the registry ``backend`` and the ``target`` it is given."""

    backend: str
    target: str


def parse_model(spec: str) -> ModelRef:
    """``spec`` as backend and target. A name with no known prefix is an hf model, as before
    backends existed; an unknown lowercase prefix is refused rather than read as a Hub id."""
    text = spec.strip()
    if not text:
        raise BackendError("the model name is empty")
    prefix, sep, rest = text.partition(":")
    if not sep or prefix == "demo" or Path(text).exists():
        return ModelRef(DEFAULT_BACKEND, text)
    if prefix in BACKENDS:
        if not rest.strip():
            raise BackendError(f"model {spec!r} names the {prefix!r} backend but no model after the colon")
        return ModelRef(prefix, rest.strip())
    if _PREFIX.match(prefix):
        raise BackendError(f"model {spec!r}: unknown backend {prefix!r}; known backends: {', '.join(sorted(BACKENDS))}")
    return ModelRef(DEFAULT_BACKEND, text)


def check_model(spec: str) -> ModelRef:
    """Parse ``spec`` and run its backend's cheap check (no load, no network): a wrong name fails
    here, before anything heavy is imported."""
    ref = parse_model(spec)
    BACKENDS[ref.backend].check(ref.target)
    return ref


def open_backend(spec: str, **options: Any) -> Backend:
    """The backend for ``spec``, opened (an hf model is loaded here). ``options`` go to the
    backend's constructor; those left at None are dropped, so a caller may pass every option it
    knows and each backend receives the ones that were set (hf: dtype, device, batch_size,
    padding_side)."""
    ref = check_model(spec)
    cls = BACKENDS[ref.backend].resolve()
    kwargs = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise BackendError(f"model {spec!r}: the {ref.backend!r} backend takes no option {', '.join(unknown)}")
    return cls(ref.target, **kwargs)
