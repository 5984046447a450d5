"""Money: the one cost formula (USD per million tokens) and the dry-run estimate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crisiseval.config import ModelConfig, Price
from crisiseval.engine.cells import CallSpec, max_tokens_of, messages_tokens


def cost_usd(price: Price, tokens_in: int, tokens_out: int) -> float:
    return tokens_in / 1e6 * price.input_per_m + tokens_out / 1e6 * price.output_per_m


@dataclass
class Estimate:
    calls: int
    tokens_in: int
    tokens_out_max: int
    cost_usd_max: float | None
    per_model: dict[str, dict[str, float]]


def estimate(
    specs: Sequence[CallSpec],
    model: Callable[[str], ModelConfig],
    price: Callable[[str], Price | None],
) -> Estimate:
    """Dry run: prompt tokens (estimated), output capped by max_tokens, and the price bound.

    The total is unknown (None) when a remote model has no price; local models cost nothing.
    """
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    total: float | None = 0.0
    for s in specs:
        cfg = model(s.model)
        tin = messages_tokens(s.messages)
        tout = max_tokens_of(cfg.params)
        d = per[s.model]
        d["calls"] += 1
        d["tokens_in"] += tin
        d["tokens_out_max"] += tout
        p = price(s.model)
        if p is None:
            total = None if cfg.provider != "llama_cpp" else total
        else:
            c = cost_usd(p, tin, tout)
            d["cost_usd_max"] += c
            if total is not None:
                total += c
    return Estimate(
        calls=len(specs),
        tokens_in=int(sum(d["tokens_in"] for d in per.values())),
        tokens_out_max=int(sum(d["tokens_out_max"] for d in per.values())),
        cost_usd_max=total,
        per_model={k: dict(v) for k, v in per.items()},
    )
