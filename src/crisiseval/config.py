"""The experiment file: models (endpoints), prices, and the study's stages.

A model is ``name -> {provider, base_url | gguf, model, api_key_env, params, limits, price}``.
API keys are never in the file: ``api_key_env`` names the environment variable that holds the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crisiseval.errors import ConfigError, InputError
from crisiseval.textio import load_yaml, read_text

MAX_INPUT_CHARS = 200_000
"""Default of ``sample.max_input_chars`` (see :class:`SampleConfig`)."""
ANTHROPIC_URL = "https://api.anthropic.com"
"""The base URL of a ``provider: anthropic`` model without one (the SDK adds ``/v1/...``)."""
ANTHROPIC_KEY_ENV = "ANTHROPIC_API_KEY"
"""The key variable of a model on Anthropic's own API that names none."""
ANTHROPIC_PARAMS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",  # sent as max_tokens
        "temperature",
        "top_p",
        "top_k",
        "stop",  # sent as stop_sequences
        "stop_sequences",
        "metadata",
        "thinking",
        "service_tier",
        "seed",  # never sent (the API has none)
    }
)
"""The ``params`` an anthropic model takes (others would fail every call, or in a batch every
request hours later, so they are refused when the experiment file is read)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    """Per-endpoint call limits."""

    concurrency: int = Field(default=8, ge=1, le=4096)
    rpm: float | None = Field(default=None, gt=0, description="requests per minute")
    tpm: float | None = Field(default=None, gt=0, description="tokens per minute")
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=50)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    retry_after_max_s: float = Field(
        default=300.0, ge=0, description="longest server-requested Retry-After wait honoured"
    )
    reasks: int = Field(
        default=2, ge=0, le=10, description="re-asks after an invalid structured output"
    )
    adaptive: bool = Field(
        default=True,
        description="halve the calls in flight when the server pushes back (429, timeouts, "
        "503) and grow them back by about one per round of successes, within concurrency",
    )
    min_concurrency: int = Field(
        default=1, ge=1, description="the adaptive limit never goes below this"
    )


class Price(_Strict):
    """USD per one million tokens."""

    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)


class ModelConfig(_Strict):
    """One model behind one endpoint."""

    provider: Literal["openai", "llama_cpp", "anthropic"] = Field(
        default="openai",
        description="openai: any OpenAI-compatible endpoint; llama_cpp: a GGUF model run "
        "in-process; anthropic: Anthropic's Messages API (the crisiseval[anthropic] extra)",
    )
    model: str = Field(default="", description="the model id sent to the endpoint")
    base_url: str | None = None
    base_urls: list[str] = Field(
        default_factory=list,
        description="more replicas of the same model (e.g. vLLM servers): calls are spread over "
        "base_url and these, each to the replica with the fewest calls in flight; the cache "
        "identity stays base_url's",
    )
    api_key_env: str | None = None
    gguf: str | None = Field(
        default=None, description="llama_cpp: path to a GGUF file (default: the embedded model)"
    )
    n_ctx: int = Field(default=4096, ge=256)
    n_threads: int | None = Field(default=None, ge=1)
    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    explanation_chars: int | None = Field(
        default=None,
        ge=0,
        description="as classifier or judge: the longest explanation asked for, in characters; "
        "absent: the study's (200 for a classifier, 300 for a judge); 0: no explanation, the "
        "label or score only. The explanation is most of what a classifier or judge writes: a "
        "cap makes a small local model several times faster",
    )
    kind: Literal["chat", "guard", "moderation"] = Field(
        default="chat",
        description="as classifier: chat (an LLM asked for a label, the study's way), guard (a "
        "guard model that answers in its own format: guard_format), moderation (an "
        "OpenAI-compatible /moderations endpoint; crisiseval.guards maps its scores)",
    )
    guard_format: str | None = Field(
        default=None,
        description="kind guard: llama-guard-3, qwen3guard or yes-no (crisiseval.guards)",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    price: Price | None = None
    batch: bool = Field(
        default=False,
        description="send this model's calls as provider batches (files + batches API of an "
        "OpenAI-compatible endpoint, or Anthropic's message batches; docs/batch.md): cheaper, "
        "hours instead of seconds",
    )
    batch_poll_s: float = Field(
        default=30.0, gt=0, description="seconds between two looks at an open batch"
    )
    batch_max_wait_s: float = Field(
        default=90_000.0,
        gt=0,
        description="how long one run waits for its open batches (default 25 h: the 24 h "
        "window and some margin); then it returns, the cells stay submitted and the next run "
        "resumes polling",
    )
    batch_price: Price | None = Field(
        default=None, description="USD per million tokens in a batch (default: see batch_discount)"
    )
    batch_discount: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="without batch_price: the share taken off the list price in a batch (0.5: "
        "half price, as OpenAI and Anthropic charge)",
    )

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.batch and self.provider == "llama_cpp":
            raise ValueError(
                "batch: true needs a provider with a batch API (provider: openai or anthropic)"
            )
        if self.provider == "anthropic":
            if not self.model:
                raise ValueError("an anthropic model needs model (the model id)")
            if self.base_url is None:
                self.base_url = ANTHROPIC_URL
            if self.base_url.rstrip("/").endswith("/v1"):
                raise ValueError(
                    f"base_url: {self.base_url!r} ends with /v1, which the anthropic SDK adds "
                    "itself (e.g. https://api.anthropic.com)"
                )
            if self.api_key_env is None and self.base_url.rstrip("/") == ANTHROPIC_URL:
                self.api_key_env = ANTHROPIC_KEY_ENV
            refused = sorted(set(self.params) - ANTHROPIC_PARAMS)
            if refused:
                raise ValueError(
                    f"params.{refused[0]}: not a parameter crisiseval sends to Anthropic's "
                    f"Messages API (it takes: {', '.join(sorted(ANTHROPIC_PARAMS))})"
                )
            for name in ("temperature", "top_p"):
                value = self.params.get(name)
                if value is not None and not (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and 0 <= value <= 1
                ):
                    raise ValueError(f"params.{name}: the Messages API takes 0 to 1, not {value!r}")
            if self.structured_output not in ("auto", "prompt"):
                raise ValueError(
                    "structured_output: an anthropic model is asked for JSON in the prompt "
                    "(auto or prompt); json_schema and json_object are OpenAI-compatible modes"
                )
        if self.batch and getattr(self, "kind", "chat") == "moderation":
            raise ValueError("batch: true is for chat-completion models, not kind: moderation")
        if self.provider == "openai" and not self.base_url:
            raise ValueError("an openai-compatible model needs base_url")
        if self.provider == "openai" and not self.model:
            raise ValueError("an openai-compatible model needs model (the model id)")
        if self.base_urls and self.provider != "openai":
            raise ValueError("base_urls is for openai-compatible models")
        for url in self.base_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base_urls: {url!r} is not an http(s) URL")
        return self

    @model_validator(mode="after")
    def _check_kind(self) -> ModelConfig:
        if self.kind == "guard":
            if not self.guard_format:
                raise ValueError("a guard model needs guard_format")
            from crisiseval.guards import format_names

            if self.guard_format not in format_names():
                raise ValueError(
                    f"unknown guard_format {self.guard_format!r} (known: "
                    f"{', '.join(format_names())})"
                )
        elif self.guard_format is not None:
            raise ValueError("guard_format is for kind: guard")
        if self.kind == "moderation" and self.provider != "openai":
            raise ValueError("kind: moderation needs an OpenAI-compatible endpoint")
        if self.kind == "guard" and self.provider == "anthropic":
            raise ValueError(
                "kind: guard needs an OpenAI-compatible endpoint (a guard model's server)"
            )
        if self.kind == "moderation" or (self.kind == "guard" and self.guard_format != "yes-no"):
            # The input is the whole conversation such a classifier reads: a re-ask would be
            # classified with it. A reply it cannot read is unparsed at once.
            if "reasks" in self.limits.model_fields_set and self.limits.reasks:
                raise ValueError(
                    f"limits.reasks: a {self.kind} classifier is not re-asked (the re-ask would "
                    "be classified with the input): leave reasks out or set 0"
                )
            self.limits.reasks = 0
        return self

    def all_base_urls(self) -> list[str]:
        """base_url, then the replicas of ``base_urls`` (each once)."""
        return list(dict.fromkeys([u for u in [self.base_url, *self.base_urls] if u]))


class ClassifyConfig(_Strict):
    models: list[str] = Field(min_length=1)
    runs: int = Field(default=3, ge=1)
    majority_of: str | None = Field(
        default=None, description="the classifier whose majority label drives judging"
    )
    trained: dict[str, str] = Field(
        default_factory=dict,
        description="trained classifiers: name -> the model file `crisiseval triage train` "
        "wrote (relative to this file); they label every item locally, no model call",
    )


class Respondent(_Strict):
    name: str
    model: str
    system_prompt: str | None = Field(
        default=None,
        description="the system prompt's text, or safeguard:NAME for one of crisiseval's "
        "safeguard prompts (crisiseval.safeguards)",
    )
    system_prompt_file: str | None = Field(
        default=None, description="a file holding the system prompt (relative to this file)"
    )
    safeguard: str | None = Field(
        default=None, description="set by crisiseval: the safeguard the prompt came from"
    )

    @model_validator(mode="after")
    def _one_prompt(self) -> Respondent:
        if self.system_prompt is not None and self.system_prompt_file is not None:
            raise ValueError("give system_prompt or system_prompt_file, not both")
        if self.safeguard is not None:
            raise ValueError("safeguard is set by crisiseval: write system_prompt: safeguard:NAME")
        return self


class RespondConfig(_Strict):
    respondents: list[Respondent] = Field(min_length=1)
    runs: int = Field(default=3, ge=1)


class JudgeConfig(_Strict):
    judges: list[str] = Field(min_length=1)
    runs: int = Field(default=3, ge=1)
    rubric: str | None = Field(default=None, description="path to a rubric YAML/CSV")


class BehaviourConfig(_Strict):
    """The behaviour judge: one behaviour code per answer (crisiseval.probes.BEHAVIOURS)."""

    judges: list[str] = Field(min_length=1)
    runs: int = Field(default=3, ge=1)


class ConverseConfig(_Strict):
    """Multi-turn conversations: a user simulator plays personas, respondents answer with the
    whole history, judges rate the whole conversation (crisiseval.conversations)."""

    personas: list[str] = Field(
        default_factory=lambda: ["core"],
        description="persona sets: built-in names or persona files",
    )
    ids: list[str] | None = Field(default=None, description="only these persona ids")
    simulator: str = Field(description="the model that plays the personas")
    respondents: list[Respondent] | None = Field(
        default=None, description="default: respond.respondents"
    )
    runs: int = Field(default=1, ge=1, description="conversations per persona and respondent")
    max_turns: int = Field(default=10, ge=1, le=50, description="the most user turns")
    judges: list[str] | None = Field(default=None, description="default: judge.judges")
    judge_runs: int | None = Field(default=None, ge=1, description="default: judge.runs")


class SourceSpec(_Strict):
    id: str
    path: str | None = Field(default=None, description="local file/dir instead of the hub")


class SampleConfig(_Strict):
    name: str = "main"
    from_file: str | None = Field(default=None, description="import an item list (JSON)")
    builtin: Literal["demo"] | None = None
    probes: list[str] = Field(
        default_factory=list,
        description="probe suites: built-in names (crisiseval probes list) or suite files",
    )
    sources: list[SourceSpec] = Field(default_factory=list)
    n_per_source: int | None = Field(default=None, ge=1)
    seed: int = 0
    split_style: Literal["grouped", "paper"] = Field(
        default="grouped",
        description="grouped: '...', '?!' etc. stay one delimiter (the documented rule); paper: "
        "split after every single '.', '?', '!' as the study's released items were",
    )
    max_turns: int = Field(default=40, ge=1)
    max_input_chars: int = Field(
        default=MAX_INPUT_CHARS,
        ge=1,
        description="the longest input (characters in all its turns) a sample may hold; a longer "
        "one is refused, naming its file and record, when the sample is built from sources or "
        "imported from a file. The default, 200,000 characters (about 50,000 tokens at ~4 "
        "characters a token), is some 50 times the study's longest input (about 4,000 "
        "characters), yet an input that long still fits, with the judge's prompt, rubric and "
        "answer, in the 64k-128k-token contexts of the study's models: it stops runaway inputs "
        "(a whole file in one record), not long conversations",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> SampleConfig:
        origins = [
            self.from_file is not None,
            self.builtin is not None,
            bool(self.sources),
            bool(self.probes),
        ]
        if sum(origins) != 1:
            raise ValueError("give exactly one of from_file, builtin, sources or probes")
        return self


class StudyConfig(_Strict):
    name: str = "study"
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    prices: dict[str, Price] = Field(default_factory=dict)
    taxonomy: str | None = None
    sample: SampleConfig | None = None
    classify: ClassifyConfig | None = None
    respond: RespondConfig | None = None
    judge: JudgeConfig | None = None
    behaviour: BehaviourConfig | None = None
    converse: ConverseConfig | None = None

    def conversation_respondents(self) -> list[Respondent]:
        """``converse.respondents``, else ``respond.respondents``."""
        if self.converse is None:
            return []
        if self.converse.respondents is not None:
            return list(self.converse.respondents)
        return list(self.respond.respondents) if self.respond else []

    def conversation_judges(self) -> tuple[list[str], int]:
        """(judges, runs) of the conversation judge: ``converse``'s, else ``judge``'s."""
        c = self.converse
        if c is None:
            return [], 0
        judges = c.judges if c.judges is not None else (self.judge.judges if self.judge else [])
        runs = c.judge_runs or (self.judge.runs if self.judge else 3)
        return list(judges), runs

    @model_validator(mode="after")
    def _classifier_kinds(self) -> StudyConfig:
        c = self.classify
        if c is None:
            return self
        for name in c.trained:
            if name in c.models:
                raise ValueError(
                    f"classify.trained: {name!r} is also in classify.models (give it one name)"
                )
        label_source = c.majority_of or c.models[0]
        cfg = self.models.get(label_source)
        if cfg is not None and cfg.kind != "chat" and self.judge:
            raise ValueError(
                f"classify.majority_of: the labels that drive judging come from an LLM classifier "
                f"(kind chat); {label_source!r} is kind {cfg.kind} (set majority_of)"
            )
        return self

    @model_validator(mode="after")
    def _refs(self) -> StudyConfig:
        names: list[tuple[str, str]] = []
        if self.classify:
            names += [("classify.models", m) for m in self.classify.models]
        if self.respond:
            names += [("respond.respondents.model", r.model) for r in self.respond.respondents]
        if self.judge:
            names += [("judge.judges", j) for j in self.judge.judges]
        if self.behaviour:
            names += [("behaviour.judges", j) for j in self.behaviour.judges]
        if self.converse:
            names.append(("converse.simulator", self.converse.simulator))
            names += [
                ("converse.respondents.model", r.model) for r in self.converse.respondents or []
            ]
            names += [("converse.judges", j) for j in self.converse.judges or []]
            if not self.conversation_respondents():
                raise ValueError(
                    "converse: no respondents (give converse.respondents or a respond: section)"
                )
            names_seen: set[str] = set()
            for r in self.conversation_respondents():
                if r.name in names_seen:
                    raise ValueError(
                        f"converse.respondents: the name {r.name!r} is used twice (each "
                        "respondent needs its own name)"
                    )
                names_seen.add(r.name)
            for role, model in [
                ("converse.simulator", self.converse.simulator),
                *(("converse.respondents", r.model) for r in self.conversation_respondents()),
            ]:
                if model in self.models and self.models[model].batch:
                    raise ValueError(
                        f"{role}: {model!r} has batch: true; a conversation needs each turn's "
                        "reply before the next, so it cannot run as a batch"
                    )
        for where, name in names:
            if name not in self.models:
                known = ", ".join(sorted(self.models)) or "none"
                raise ValueError(f"{where}: unknown model {name!r} (models defined: {known})")
        c = self.classify
        if c and c.majority_of is not None and c.majority_of not in c.models:
            raise ValueError(
                f"classify.majority_of: {c.majority_of!r} is not one of classify.models "
                f"({', '.join(c.models)})"
            )
        if self.respond:
            seen: set[str] = set()
            for r in self.respond.respondents:
                if r.name in seen:
                    raise ValueError(
                        f"respond.respondents: the name {r.name!r} is used twice (each respondent "
                        "needs its own name)"
                    )
                seen.add(r.name)
        return self


def _format_validation_error(path: Path | str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (typo?)"
    extra = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{path}: field {loc}: {msg}{extra}"


def load_study(path: Path | str) -> StudyConfig:
    """Read and validate an experiment YAML; every problem is a one-line ConfigError."""
    path = Path(path)
    try:
        text = read_text(path)
    except InputError as exc:
        raise ConfigError(f"{exc} (the experiment file)") from None
    try:
        data = load_yaml(text, where=path)  # a key given twice is an error, not "the last wins"
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_study(data, source=str(path), base_dir=path.parent)


def parse_study(
    data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None
) -> StudyConfig:
    try:
        cfg = StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from exc
    if base_dir is not None:
        _resolve_paths(cfg, base_dir)
    _resolve_prompts(cfg, source)
    return cfg


def _resolve_prompts(cfg: StudyConfig, source: str) -> None:
    """``safeguard:NAME`` and ``system_prompt_file`` become the prompt's text."""
    groups: list[tuple[str, list[Respondent]]] = []
    if cfg.respond is not None:
        groups.append(("respond", cfg.respond.respondents))
    if cfg.converse is not None and cfg.converse.respondents is not None:
        groups.append(("converse", cfg.converse.respondents))
    for section, respondents in groups:
        _resolve_group(section, respondents, source)


def _resolve_group(section: str, respondents: list[Respondent], source: str) -> None:
    from crisiseval import safeguards

    for i, r in enumerate(respondents):
        where = f"{source}: {section}.respondents[{i}]"
        if r.system_prompt is not None and r.system_prompt.startswith(safeguards.PREFIX):
            r.safeguard, r.system_prompt = safeguards.resolve(r.system_prompt, where=where)
        elif r.system_prompt_file is not None:
            try:
                text = read_text(Path(r.system_prompt_file)).strip()
            except InputError as exc:
                raise ConfigError(f"{where}.system_prompt_file: {exc}") from None
            if not text:
                raise ConfigError(f"{where}.system_prompt_file: {r.system_prompt_file} is empty")
            r.system_prompt, r.system_prompt_file = text, None


def _resolve_paths(cfg: StudyConfig, base: Path) -> None:
    """Relative paths in the file are relative to the file's folder."""

    def fix(p: str | None) -> str | None:
        if p is None:
            return None
        q = Path(os.path.expanduser(p))
        return str(q if q.is_absolute() else (base / q))

    for m in cfg.models.values():
        m.gguf = fix(m.gguf)
    cfg.taxonomy = fix(cfg.taxonomy)
    if cfg.classify:
        cfg.classify.trained = {k: str(fix(v)) for k, v in cfg.classify.trained.items()}
    if cfg.judge:
        cfg.judge.rubric = fix(cfg.judge.rubric)
    if cfg.respond:
        for r in cfg.respond.respondents:
            r.system_prompt_file = fix(r.system_prompt_file)
    if cfg.converse:
        for r in cfg.converse.respondents or []:
            r.system_prompt_file = fix(r.system_prompt_file)
        cfg.converse.personas = [
            str(fix(p)) if p.endswith((".yaml", ".yml")) else p for p in cfg.converse.personas
        ]
    if cfg.sample:
        cfg.sample.from_file = fix(cfg.sample.from_file)
        for s in cfg.sample.sources:
            s.path = fix(s.path)
        cfg.sample.probes = [
            str(fix(p)) if p.endswith((".yaml", ".yml", ".jsonl")) else p for p in cfg.sample.probes
        ]


def endpoint_identity(cfg: ModelConfig, gguf_sha256: str | None = None) -> str:
    """What decides whether two model definitions are the same model for caching.

    Never includes the API key. For a local model, the GGUF's content hash (not its path).
    """
    if cfg.provider == "llama_cpp":
        return f"llama_cpp:{gguf_sha256 or cfg.gguf or 'embedded'}"
    if cfg.provider == "anthropic":
        return f"anthropic:{(cfg.base_url or ANTHROPIC_URL).rstrip('/')}:{cfg.model}"
    return f"openai:{(cfg.base_url or '').rstrip('/')}:{cfg.model}"
