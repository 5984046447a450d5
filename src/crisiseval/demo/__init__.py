"""Built-in demo: our own example inputs and the offline experiment file."""

from __future__ import annotations

import importlib.resources

from crisiseval.textio import load_yaml


def default_per_label() -> int:
    """Inputs per label that ``crisiseval demo`` runs when ``--per-label`` is not given
    (``default_per_label`` in ``inputs.yaml``)."""
    text = importlib.resources.files(__name__).joinpath("inputs.yaml").read_text("utf-8")
    value = load_yaml(text, where="crisiseval/demo/inputs.yaml").get("default_per_label", 5)
    if not isinstance(value, int) or not 1 <= value <= 5:
        where = "crisiseval/demo/inputs.yaml"
        raise ValueError(f"{where}: default_per_label must be 1-5, not {value!r}")
    return value
