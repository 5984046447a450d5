"""The model-call engine: endpoints, cells, limits and the resumable batch runner."""

from crisiseval.engine.cells import CallSpec, cell_key, estimate_tokens, extract_json
from crisiseval.engine.endpoints import (
    EMBEDDED_NAME,
    EMBEDDED_SHA256,
    Completion,
    InfraError,
    embedded_gguf_path,
    make_endpoint,
)
from crisiseval.engine.runner import CellResult, Engine, Estimate, RunSummary, check_reachable

__all__ = [
    "EMBEDDED_NAME",
    "EMBEDDED_SHA256",
    "CallSpec",
    "CellResult",
    "Completion",
    "Engine",
    "Estimate",
    "InfraError",
    "RunSummary",
    "cell_key",
    "check_reachable",
    "embedded_gguf_path",
    "estimate_tokens",
    "extract_json",
    "make_endpoint",
]
