"""Preprocessing rules one by one, then property tests."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crisiseval.corpus import (
    CorpusStats,
    Preprocessor,
    RawDoc,
    clean_turn,
    preprocess,
    split_turns,
    text_to_turns,
)
from crisiseval.corpus.preprocess import STEP_FIELDS, SplitStyle, remove_bracketed
from crisiseval.store import item_id_for


# ---------------------------------------------------------------------------------- splitting
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am tired. I am sad.", ["I am tired.", "I am sad."]),
        ("Really? Yes! Fine.", ["Really?", "Yes!", "Fine."]),
        ("Wait... what", ["Wait...", "what"]),
        ("Why?? Because!! What?! No!?", ["Why??", "Because!!", "What?!", "No!?"]),
        ("Hmm.... ok", ["Hmm...", "ok"]),  # the lone fourth dot is dropped as a turn
        ("first line\nsecond line", ["first line", "second line"]),
        ("a line\r\nanother line\n\n\nlast one", ["a line", "another line", "last one"]),
        ("no delimiter at all", ["no delimiter at all"]),
    ],
)
def test_split_points(text: str, expected: list[str]) -> None:
    assert text_to_turns(text) == expected


def test_delimiter_stays_with_its_turn() -> None:
    assert split_turns("One. Two? Three!") == ["One.", " Two?", " Three!", ""]


def test_decimal_and_url_are_not_split_points() -> None:
    assert text_to_turns("I took 2.5 tablets. Then slept.") == [
        "I took 2.5 tablets.",
        "Then slept.",
    ]
    # the URL's dots do not split it, so the whole turn is dropped with it
    assert text_to_turns("Look at www.example.com/pic.png now. Bye then.") == ["Bye then."]
    # a delimiter that ends the URL token still ends the sentence
    assert text_to_turns("Read https://a.org/x.html. It helped!") == ["It helped!"]


def test_paper_split_style_splits_after_every_delimiter() -> None:
    assert text_to_turns("Wait... what?! I took 2.5 mg.", style="paper") == [
        "Wait.",
        "what?",
        "I took 2.",
        "5 mg.",
    ]


def test_source_extra_split_point_drops_the_quote() -> None:
    text = '"I keep arguing with my sister."  \nWhat now?'
    assert text_to_turns(text, extra_split=r'"[^\S\n]*\n') == [
        '"I keep arguing with my sister.',
        "What now?",
    ]


# ---------------------------------------------------------------------------------- cleaning
@pytest.mark.parametrize(
    "piece",
    [
        "",
        " a ",
        "?",
        '""',
        "'''",
        "...",
        ". . .",
        "42",
        "10.",
        "!!!",
        "-- ** --",
        "see http://example.org",
        "https://x.y",
        "go to www.example.com",
        "posted on reddit.com earlier",
        "puu.sh link",
        "my video.mp4",
        "photo.JPG here",
        "screenshot.png",
        "funny.gif lol",
    ],
)
def test_dropped_turns(piece: str) -> None:
    assert clean_turn(piece) is None


@pytest.mark.parametrize(
    ("piece", "expected"),
    [
        ("  I feel fine.  ", "I feel fine."),
        ("ok", "ok"),
        ("[deleted] I am here", "I am here"),
        ("I am [removed by moderator] back", "I am  back"),
        ("a back\\slash", "a backslash"),
        ("[[nested] brackets] gone", "gone"),
        ("I gifted it", "I gifted it"),
        ("I'm 19.", "I'm 19."),
    ],
)
def test_cleaned_turns(piece: str, expected: str) -> None:
    assert clean_turn(piece) == expected


def test_brackets_removed_before_splitting() -> None:
    assert text_to_turns("I went [...] home. Then [edit: typo] slept.") == [
        "I went  home.",
        "Then  slept.",
    ]
    assert remove_bracketed("a [b\nc] d") == "a [b\nc] d"  # never across a line break


# ---------------------------------------------------------------------------------- documents
def _doc(text: str, source: str = "s1", label: str | None = None) -> RawDoc:
    return RawDoc(text, source, label)


def test_length_filter_keeps_1_to_40_turns() -> None:
    forty = " ".join(f"Turn {i}." for i in range(40))
    items, stats = preprocess([_doc(forty), _doc(forty + " Turn 40."), _doc("... !!! 42")])
    assert [len(item.turns) for item in items] == [40]
    assert stats.sources["s1"].too_long == 1
    assert stats.sources["s1"].empty == 1
    items, _ = preprocess([_doc(forty + " Turn 40.")], max_turns=41)
    assert len(items[0].turns) == 41


def test_dedup_within_and_across_sources_first_source_wins() -> None:
    docs = [
        _doc("Same words. Here.", "a", "self_harm"),
        _doc("Same words.\nHere.", "a"),  # the same turns after splitting
        _doc("Same   words. Here.  ", "b"),  # different inner spacing: a different item
        _doc("Same words. Here.", "b", "no_crisis"),
        _doc("Other text.", "b"),
    ]
    items, stats = preprocess(docs)
    assert [(item.source, item.label, item.turns) for item in items] == [
        ("a", "self_harm", ("Same words.", "Here.")),
        ("b", None, ("Same   words.", "Here.")),
        ("b", None, ("Other text.",)),
    ]
    assert items[0].item_id == item_id_for(["Same words.", "Here."])
    assert stats.sources["a"].duplicates_within == 1
    assert stats.sources["b"].duplicates_across == 1
    assert stats.total().kept == 3
    assert stats.rows()[-1]["source"] == "total"


def test_source_extra_splits_come_from_the_registry() -> None:
    text = '"My sister and I argue"\nHow do I stop?'
    items, _ = preprocess([_doc(text, "mentalchat16k")])
    assert items[0].turns == ('"My sister and I argue', "How do I stop?")
    items, _ = preprocess([_doc(text, "other")])
    assert items[0].turns == ('"My sister and I argue"', "How do I stop?")


def test_max_turns_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_turns"):
        Preprocessor(max_turns=0)


# ---------------------------------------------------------------------------------- properties
_ALPHABET = st.sampled_from(
    [*"abcXYZ  \t019.?!.!?\n\n\r\"'[]\\-", "...", "http", "www.", " .png", "é", "😭"]
)
_TEXT = st.lists(_ALPHABET, max_size=80).map("".join)
_STYLES: list[SplitStyle] = ["grouped", "paper"]
_NON_SPACE = re.compile(r"\s+")


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.sampled_from(_STYLES))
def test_split_loses_no_non_whitespace(text: str, style: SplitStyle) -> None:
    pieces = split_turns(text, style=style)
    assert _NON_SPACE.sub("", "".join(pieces)) == _NON_SPACE.sub("", text)
    assert all(len(piece.splitlines()) <= 1 for piece in pieces)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.sampled_from(_STYLES))
def test_turns_are_clean_substrings(text: str, style: SplitStyle) -> None:
    cleaned = remove_bracketed(text)
    for turn in text_to_turns(text, style=style):
        assert "\n" not in turn and "\r" not in turn
        assert turn == turn.strip()
        assert len(turn) >= 2
        assert "\\" not in turn
        assert re.search(r"[^\W\d_]", turn)
        assert "http" not in turn.lower() and "www." not in turn.lower()
        assert turn in cleaned


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(_TEXT, st.sampled_from(["s1", "s2", "s3"]), st.sampled_from([None, "self_harm"])),
        max_size=25,
    ),
    st.integers(min_value=1, max_value=6),
)
def test_kept_items_and_counts(raw: list[tuple[str, str, str | None]], max_turns: int) -> None:
    docs = [RawDoc(text, source, label) for text, source, label in raw]
    items, stats = preprocess(docs, max_turns=max_turns)
    assert all(1 <= len(item.turns) <= max_turns for item in items)
    assert len({item.item_id for item in items}) == len(items)
    assert isinstance(stats, CorpusStats)
    for source_stats in stats.sources.values():
        removed = (
            source_stats.empty
            + source_stats.too_long
            + source_stats.duplicates_within
            + source_stats.duplicates_across
        )
        assert source_stats.docs_read == removed + source_stats.kept
    assert stats.total().docs_read == len(docs)
    assert stats.total().kept == len(items)
    for row in stats.rows():
        assert set(STEP_FIELDS) <= set(row)
