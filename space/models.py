"""The arena's models: the models file, lazy cached loading and streamed generation.

A models file (YAML or JSON) is either a list or ``{"models": [...]}``; each entry::

    - name: qwen-7b-chat            # shown after the vote; unique
      path: Qwen/Qwen-7B-Chat       # a model name as ``cvalues eval --model`` takes it: HF id, local
                                    # folder, demo:SEED, or BACKEND:TARGET (hf:ORG/NAME, ...)
      dtype: bf16                   # auto | bf16 | fp16 | fp32
      weight: 1.0                   # sampling weight in the arena
      generation: {max_new_tokens: 512, temperature: 0.7, top_p: 0.9, do_sample: true}

    - name: qwen-72b                # a served model (vLLM, SGLang, TGI, a hosted API): no torch, no GPU here
      path: openai:Qwen2.5-72B-Instruct
      base_url: http://host:8000/v1 # default $OPENAI_BASE_URL, else OpenAI's
      api_key_env: QWEN_API_KEY     # the environment variable holding its key (default OPENAI_API_KEY)

Models are reached only through the public backends API (``cvalues_build.evaluation.backends``):
``open_backend`` opens one, ``Backend.stream`` streams its reply. Generation runs under
``@spaces.GPU`` when the ``spaces`` package is importable (ZeroGPU Spaces) and a local model
takes part; elsewhere the decorator is a no-op. A battle in which a model fails mid-reply still
streams the other side to its end, then raises ``ReplyFailed`` with both texts.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cvalues_build.evaluation.backends import (
    DEFAULT_BACKEND,
    DTYPES,
    Backend,
    BackendError,
    GenerationSettings,
    open_backend,
    parse_model,
)

from .markup import hidden_character

GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "top_k", "do_sample", "repetition_penalty")
DEFAULT_GENERATION: dict[str, Any] = {"max_new_tokens": 512, "temperature": 0.7, "top_p": 0.9, "do_sample": True}
DEMO_SEEDS = (1, 2, 3)
SERVER_KEYS = ("base_url", "api_key_env")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _gpu_decorator() -> Callable[..., Any]:
    try:
        import spaces  # only on Hugging Face Spaces
    except ImportError:
        def passthrough(fn: Callable[..., Any] | None = None, **_: Any) -> Any:
            return fn if fn is not None else (lambda f: f)
        return passthrough
    return spaces.GPU


gpu = _gpu_decorator()


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str
    dtype: str = "auto"
    weight: float = 1.0
    generation: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None  # a served model's server
    api_key_env: str | None = None  # the environment variable holding its key (never the key)

    @property
    def served(self) -> bool:
        """Whether a server generates the replies (``openai:...``): nothing loads here."""
        return parse_model(self.path).backend != DEFAULT_BACKEND

    def open_options(self, device: str) -> dict[str, Any]:
        """What ``open_backend`` takes for this model: a served one its server and key variable,
        a local one its dtype and device."""
        if self.served:
            return {"base_url": self.base_url, "api_key_env": self.api_key_env}
        return {"dtype": self.dtype, "device": device}

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs = {**DEFAULT_GENERATION, **self.generation}
        if not kwargs.get("do_sample", True):
            # Greedy decoding: sampling knobs would only trigger transformers warnings.
            for key in ("temperature", "top_p", "top_k"):
                kwargs.pop(key, None)
        return kwargs

    def settings(self) -> GenerationSettings:
        return GenerationSettings.from_mapping(self.generate_kwargs())


class ModelsFileError(ValueError):
    pass


def _spec_from(entry: Any, where: str) -> ModelSpec:
    if not isinstance(entry, dict):
        raise ModelsFileError(f"{where}: expected a mapping with name and path, got {type(entry).__name__}")
    unknown = set(entry) - {"name", "path", "model", "dtype", "weight", "generation", *SERVER_KEYS}
    if unknown:
        raise ModelsFileError(f"{where}: unknown keys {sorted(unknown)}")
    path = entry.get("path", entry.get("model"))
    name = entry.get("name", path)
    if not isinstance(path, str) or not path.strip():
        raise ModelsFileError(f"{where}: 'path' (HF id or folder) is required")
    if not isinstance(name, str) or not name.strip():
        raise ModelsFileError(f"{where}: 'name' must be a non-empty string")
    if hidden := hidden_character(name.strip()):
        raise ModelsFileError(f"{where}: 'name' {name!r} holds {hidden}; visitors read names as plain text")
    dtype = entry.get("dtype", "auto")
    if dtype not in DTYPES:
        raise ModelsFileError(f"{where}: dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise ModelsFileError(f"{where}: weight must be a non-negative number, not {weight!r}")
    generation = entry.get("generation", {}) or {}
    if not isinstance(generation, dict) or set(generation) - set(GENERATION_KEYS):
        raise ModelsFileError(f"{where}: generation keys must be among {', '.join(GENERATION_KEYS)}")
    spec = ModelSpec(name.strip(), path.strip(), dtype, float(weight), dict(generation))
    return replace(spec, **_server_fields(entry, spec, where))


def _server_fields(entry: dict, spec: ModelSpec, where: str) -> dict[str, str]:
    """``base_url`` and ``api_key_env`` of a served model, checked; refused on a local one."""
    try:
        served = spec.served
    except BackendError as err:
        raise ModelsFileError(f"{where}: {err}") from None
    given = {k: entry[k] for k in SERVER_KEYS if entry.get(k) is not None}
    if not served:
        if given:
            raise ModelsFileError(f"{where}: {', '.join(given)} apply to served models (path: openai:NAME)")
        return {}
    if spec.dtype != "auto":
        raise ModelsFileError(f"{where}: dtype applies to local models; a served model's is the server's")
    url, env = given.get("base_url"), given.get("api_key_env")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://[^\s/@]+(/\S*)?$", url.strip())):
        raise ModelsFileError(f"{where}: base_url must be an http(s) URL without user:password (the key goes in "
                              f"the environment variable api_key_env names), not {url!r}")
    if env is not None and (not isinstance(env, str) or not _ENV_NAME.match(env)):
        raise ModelsFileError(f"{where}: api_key_env names an environment variable (like OPENAI_API_KEY), not {env!r}")
    return {k: v.strip() for k, v in given.items()}


def parse_models(data: Any, source: str = "models file") -> list[ModelSpec]:
    """Specs from parsed YAML/JSON; errors name the entry and the field."""
    entries = data.get("models") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ModelsFileError(f"{source}: expected a non-empty list of models (or {{models: [...]}})")
    specs = [_spec_from(e, f"{source}: models[{i}]") for i, e in enumerate(entries)]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelsFileError(f"{source}: model names must be unique; repeated: {duplicates}")
    if sum(1 for s in specs if s.weight > 0) < 2:
        raise ModelsFileError(f"{source}: the arena needs at least two models with a positive weight")
    return specs


def load_models_file(path: str | Path) -> list[ModelSpec]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ModelsFileError(f"cannot read models file {path}: {err.strerror or err}") from err
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelsFileError(f"{path}: invalid JSON: {err}") from err
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ModelsFileError(f"{path}: invalid YAML: {err}") from err
    return parse_models(data, str(path))


def demo_specs(seeds: Sequence[int] = DEMO_SEEDS, max_new_tokens: int = 40) -> list[ModelSpec]:
    """The built-in demo models (random weights, CPU, no network); their output is noise."""
    gen = {"max_new_tokens": max_new_tokens, "temperature": 1.0, "top_p": 0.95, "do_sample": True}
    return [ModelSpec(f"demo:{s}", f"demo:{s}", "fp32", 1.0, gen) for s in seeds]


def cap_new_tokens(specs: Sequence[ModelSpec], max_new_tokens: int) -> list[ModelSpec]:
    """The same specs with every reply capped at ``max_new_tokens`` (short replies for quick demos
    and load tests)."""
    if max_new_tokens < 1:
        raise ModelsFileError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    return [replace(s, generation={**s.generation, "max_new_tokens": max_new_tokens}) for s in specs]


class ModelPool:
    """Opens each model's backend on first use and keeps it; two threads asking at once open it
    once. Opening runs one model at a time: it happens once per model, and the hf backend's
    loads share one lock anyway (transformers' lazy imports are not thread-safe)."""

    def __init__(self, specs: Sequence[ModelSpec], device: str = "auto", run_device: str | None = None):
        """Models load on ``device``; with ``run_device`` they generate there instead (ZeroGPU:
        loaded on "cpu" at start-up, moved to "cuda" inside each @spaces.GPU call)."""
        self.specs = {s.name: s for s in specs}
        self.device, self.run_device = device, run_device
        self._cache: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def preload(self) -> None:
        """Open every model now rather than on first use."""
        for name in self.specs:
            self.get(name)

    def for_generation(self, name: str) -> Backend:
        """The model, on the device it generates on (call it inside the GPU call)."""
        backend = self.get(name)
        if self.run_device:
            backend.move_to(self.run_device)
        return backend

    def get(self, name: str) -> Backend:
        if name not in self.specs:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(self.specs)}")
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        with self._lock:
            if name not in self._cache:
                spec = self.specs[name]
                self._cache[name] = open_backend(spec.path, **spec.open_options(self.device))
            return self._cache[name]

    def loaded(self) -> list[str]:
        return list(self._cache)


class ReplyFailed(RuntimeError):
    """A model failed mid-reply. ``texts`` holds every reply as far as it got (the others to their
    end) and ``failed`` the positions of the models that failed; the message names them and the
    cause, for the log, not for visitors of an anonymous battle."""

    def __init__(self, texts: list[str], failed: dict[int, BaseException], names: Sequence[str]):
        super().__init__("; ".join(f"generation with {names[k]} failed: {err}" for k, err in failed.items()))
        self.texts, self.failed = texts, sorted(failed)


def stream_replies(pool: ModelPool, names: Sequence[str], prompt: str) -> Iterator[list[str]]:
    """Generate with each named model at once, yielding every reply so far after each new piece.

    One reader thread per model iterates its backend's stream into one queue, so the two sides
    of a battle stream side by side instead of one after the other. Only local models ask for a
    GPU (``@spaces.GPU``); served ones generate elsewhere.
    """
    if all(pool.specs[name].served for name in names):
        yield from _stream(pool, names, prompt)
    else:
        yield from _stream_on_gpu(pool, names, prompt)


def _stream(pool: ModelPool, names: Sequence[str], prompt: str) -> Iterator[list[str]]:
    texts = [""] * len(names)
    merged: queue.Queue[tuple[int, str | BaseException | None]] = queue.Queue()
    left = threading.Event()  # set when the page closes this generator: its visitor has gone

    def read(k: int, backend: Backend, settings: GenerationSettings) -> None:
        pieces = backend.stream(prompt, settings)
        try:
            for piece in pieces:
                if left.is_set():
                    break  # closing the backend's stream stops its generation or its request
                merged.put((k, piece))
        except BaseException as err:  # noqa: BLE001 - surfaced to the caller below
            merged.put((k, err))
        finally:
            close = getattr(pieces, "close", None)  # a generator; another iterator has nothing to stop
            if close is not None:
                close()
        merged.put((k, None))

    for k, name in enumerate(names):
        backend = pool.for_generation(name)
        threading.Thread(target=read, args=(k, backend, pool.specs[name].settings()), daemon=True).start()

    finished, failed = 0, {}
    try:
        while finished < len(names):
            k, item = merged.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                failed[k] = item  # this side stops here; the others stream on to their end
            else:
                texts[k] += item
                yield list(texts)
    finally:
        left.set()
    if failed:
        raise ReplyFailed(list(texts), failed, names)
    yield list(texts)


_stream_on_gpu = gpu(duration=120)(_stream)
