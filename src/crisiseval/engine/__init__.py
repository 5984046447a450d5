"""The model-call engine: endpoints, cells, limits, output parsers and the resumable runner."""

from crisiseval.engine.cells import CallSpec, cell_key, estimate_tokens, extract_json
from crisiseval.engine.cost import Estimate, cost_usd
from crisiseval.engine.endpoints import (
    EMBEDDED_NAME,
    EMBEDDED_SHA256,
    RETRYABLE,
    Completion,
    Endpoint,
    InfraError,
    embedded_gguf_path,
    make_endpoint,
)
from crisiseval.engine.outputs import JsonOutput, OutputError, OutputParser, TextOutput
from crisiseval.engine.runner import (
    CellResult,
    EndpointFactory,
    Engine,
    RunSummary,
    check_reachable,
)

__all__ = [
    "EMBEDDED_NAME",
    "EMBEDDED_SHA256",
    "RETRYABLE",
    "CallSpec",
    "CellResult",
    "Completion",
    "Endpoint",
    "EndpointFactory",
    "Engine",
    "Estimate",
    "InfraError",
    "JsonOutput",
    "OutputError",
    "OutputParser",
    "RunSummary",
    "TextOutput",
    "cell_key",
    "check_reachable",
    "cost_usd",
    "embedded_gguf_path",
    "estimate_tokens",
    "extract_json",
    "make_endpoint",
]
