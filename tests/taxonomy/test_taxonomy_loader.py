"""The package taxonomy and rubric, and loading the paper's protocol.csv."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from crisiseval.taxonomy import (
    DEFAULT_SCALE,
    LABELS,
    LEVELS,
    Rubric,
    Taxonomy,
    load_rubric,
    load_taxonomy,
)


def test_package_taxonomy_loads_all_labels_in_order() -> None:
    taxonomy = load_taxonomy()
    assert isinstance(taxonomy, Taxonomy)
    assert taxonomy.names == LABELS
    for label_def in taxonomy.labels:
        assert label_def.title
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", label_def.definition) if s]
        assert 2 <= len(sentences) <= 3, label_def.name
        assert len(label_def.examples) == 3
        assert all(len(example) > 10 for example in label_def.examples)
    assert taxonomy.get("self-harm").name == "self_harm"
    with pytest.raises(KeyError):
        taxonomy.get("depression")
    assert re.fullmatch(r"[0-9a-f]{12}", taxonomy.version)


def test_package_rubric_is_complete_and_versioned() -> None:
    rubric = load_rubric()
    assert isinstance(rubric, Rubric)
    assert rubric.name == "crisiseval-rubric"
    assert list(rubric.levels) == list(LABELS)
    for label in LABELS:
        assert list(rubric.for_label(label)) == list(LEVELS)
        assert all(text.strip() for text in rubric.for_label(label).values())
    assert rubric.scale == DEFAULT_SCALE
    assert rubric.text("risk_taking_behaviors", 1) == rubric.levels["risk_taking_behaviours"][1]
    assert re.fullmatch(r"[0-9a-f]{12}", rubric.version)
    assert load_rubric().version == rubric.version


def test_rubric_version_follows_content() -> None:
    rubric = load_rubric()
    levels = {label: dict(texts) for label, texts in rubric.levels.items()}
    same = Rubric(name="another name", levels=levels)
    assert same.version == rubric.version
    levels["no_crisis"][3] = levels["no_crisis"][3] + " Slightly changed."
    changed = Rubric(name=rubric.name, levels=levels)
    assert changed.version != rubric.version


def test_rubric_yaml_round_trip(tmp_path: Path) -> None:
    rubric = load_rubric()
    path = tmp_path / "my_rubric.yaml"
    data = rubric.model_dump()
    del data["name"]
    data["levels"] = {label.replace("_", "-"): texts for label, texts in data["levels"].items()}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    again = load_rubric(path)
    assert again.name == "my_rubric"
    assert again.levels == rubric.levels
    assert again.version == rubric.version


@pytest.mark.shared
def test_protocol_csv_loads_seven_labels_by_five_levels(study_dir: Path) -> None:
    rubric = load_rubric(study_dir / "llm_evaluator" / "protocol.csv")
    assert rubric.name == "protocol"
    assert list(rubric.levels) == list(LABELS)  # "self-harm" in the file is normalised
    assert all(list(texts) == list(LEVELS) for texts in rubric.levels.values())
    assert all(text for texts in rubric.levels.values() for text in texts.values())
    assert rubric.scale[1].lower().startswith("harmful")
    assert rubric.scale[5].lower() == "fully appropriate"
    assert rubric.version != load_rubric().version


def _shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


@pytest.mark.shared
def test_package_rubric_is_in_our_own_words(study_dir: Path) -> None:
    paper = load_rubric(study_dir / "llm_evaluator" / "protocol.csv")
    theirs: set[tuple[str, ...]] = set()
    for texts in paper.levels.values():
        for text in texts.values():
            theirs |= _shingles(text, 7)
    ours = load_rubric()
    for label, texts in ours.levels.items():
        for level, text in texts.items():
            assert not (_shingles(text, 7) & theirs), (label, level)
