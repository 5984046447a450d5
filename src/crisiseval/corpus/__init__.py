"""The corpus: source adapters, preprocessing (split, clean, length filter, dedup), sampling."""

from __future__ import annotations

from crisiseval.corpus.build import SourceSpec, build_corpus, resolve_specs
from crisiseval.corpus.preprocess import (
    MAX_TURNS,
    CorpusItem,
    CorpusStats,
    Preprocessor,
    SourceStats,
    check_input_size,
    clean_turn,
    input_chars,
    preprocess,
    split_turns,
    text_to_turns,
)
from crisiseval.corpus.sample import (
    SampleFileImport,
    import_sample_file,
    parse_inputs,
    sample_per_source,
    sample_strata,
    sample_stratified,
    save_per_source_sample,
    save_stratified_sample,
)
from crisiseval.corpus.sources import (
    SOURCE_IDS,
    SOURCES,
    RawDoc,
    ReadCounts,
    SourceAdapter,
    get_source,
    read_records_file,
)

__all__ = [
    "MAX_TURNS",
    "SOURCES",
    "SOURCE_IDS",
    "CorpusItem",
    "CorpusStats",
    "Preprocessor",
    "RawDoc",
    "ReadCounts",
    "SampleFileImport",
    "SourceAdapter",
    "SourceSpec",
    "SourceStats",
    "build_corpus",
    "check_input_size",
    "clean_turn",
    "get_source",
    "import_sample_file",
    "input_chars",
    "parse_inputs",
    "preprocess",
    "read_records_file",
    "resolve_specs",
    "sample_per_source",
    "sample_strata",
    "sample_stratified",
    "save_per_source_sample",
    "save_stratified_sample",
    "split_turns",
    "text_to_turns",
]
