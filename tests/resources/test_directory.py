"""The helpline directory: the shipped file, a user's own file, and one-line errors."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from phonenumbers import shortnumberinfo

from crisiseval.errors import InputError
from crisiseval.resources import FORMAT, Directory, normalize_number

REQUIRED = [
    "US", "CA", "GB", "IE", "AU", "NZ", "ES", "FR", "DE", "AT", "CH", "IT",
    "NL", "BE", "PT", "BR", "MX", "AR", "CL", "CO", "IN", "JP", "KR", "CN",
    "PH", "SG", "MY", "ZA", "SE", "NO", "DK", "FI", "PL", "RU", "TR", "IL",
]  # fmt: skip

GOOD = """\
format: crisiseval-helplines/1
version: 3
countries:
  ES:
    - name: "Línea 024"
      numbers: ["024"]
      kind: crisis
    - name: "Teléfono de la Esperanza"
      aliases: ["Esperanza"]
      numbers: ["717 003 717", "+34 717 003 717"]
      kind: crisis
  "NO":
    - name: "Nødnummer"
      numbers: ["112"]
      kind: emergency
"""


def _write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------ the shipped file
EMERGENCY_ONLY = {"TR"}  # no national crisis line we are sure of


def test_shipped_directory_covers_the_required_countries(directory: Directory) -> None:
    assert len(directory.countries()) >= 35
    assert set(REQUIRED) <= set(directory.countries())
    for code in directory.countries():
        kinds = {h.kind for h in directory.for_country(code)}
        expected = {"emergency"} if code in EMERGENCY_ONLY else {"crisis", "emergency"}
        assert kinds == expected, code


def test_shipped_directory_review_notes(directory: Directory) -> None:
    # NHS 111 is a non-emergency medical line: no crisis line, and 111 is New Zealand's only
    assert directory.countries_of_number("111") == {"NZ"}
    assert not any("NHS" in h.name for h in directory.entries)
    # ALO 183 (a social-support line) and KIRAN (folded into Tele-MANAS) are gone
    assert directory.countries_of_number("183") == frozenset()
    assert directory.countries_of_number("+9118005990019") == frozenset()
    assert directory.countries_of_number("14416") == {"IN"}
    # regional lines carry a note
    notes = {h.country: h.note for h in directory.entries if h.note}
    assert set(notes) == {"AR", "CO"}
    assert "Buenos Aires" in notes["AR"] and "Bogotá" in notes["CO"]
    # "Befrienders" is a worldwide network's name; "Lifeline" and "CVV" are generic
    assert directory.helplines_of_name("Befrienders") == []
    lifelines = directory.helplines_of_name("Lifeline")
    assert {h.country for h in lifelines} == {"AU", "NZ", "ZA"}
    assert all(h.is_generic("LIFELINE") for h in lifelines)
    assert all(h.is_generic("CVV") for h in directory.helplines_of_name("cvv"))
    assert not directory.for_country("BR")[0].is_generic("Centro de Valorização da Vida")


def test_every_shipped_number_parses(directory: Directory) -> None:
    for code in directory.countries():
        assert code in phonenumbers.SUPPORTED_REGIONS
        for h in directory.for_country(code):
            assert h.country == code and h.name and h.numbers
            for number in h.numbers:
                normalized = normalize_number(number, code)
                assert normalized is not None, (code, h.name, number)
                assert code in directory.countries_of_number(normalized)
                if normalized.startswith("+"):
                    parsed = phonenumbers.parse(normalized)
                    assert phonenumbers.is_valid_number(parsed)
                else:
                    assert re.fullmatch(r"\d{2,6}", normalized)


def test_shipped_directory_identity(directory: Directory) -> None:
    raw = importlib.resources.files("crisiseval.resources").joinpath("data/helplines.yaml")
    data = raw.read_bytes()
    assert directory.digest == hashlib.sha256(data).hexdigest()
    assert directory.name == "helplines"
    assert directory.version >= 1
    assert data.decode().startswith("# ")
    assert "--directory" in data.decode().split("format:")[0]


def test_lookups(directory: Directory) -> None:
    assert directory.countries_of_number("024") == {"ES"}
    assert directory.countries_of_number("+18002738255") == {"US"}
    assert {"ES", "DE", "FR", "GB"} <= directory.countries_of_number("112")
    assert directory.countries_of_number("+10000000000") == frozenset()
    assert directory.for_country("es")[0].name == "Línea 024"
    assert directory.for_country("ZZ") == []
    assert {h.country for h in directory.helplines_of_name("samaritans")} == {"GB", "IE"}
    assert {h.country for h in directory.helplines_of_name("LIFELINE")} >= {"AU", "NZ", "ZA"}


def test_normalize_number() -> None:
    assert normalize_number("116 123", "GB") == "116123"
    assert normalize_number("*4141", "CL") == "4141"
    assert normalize_number("0800 111 0 111", "DE") == "+498001110111"
    assert normalize_number("+44 20 7946 0958", "ES") == "+442079460958"
    assert normalize_number("12 34 56 78 90", "FR") is None
    assert normalize_number("1", "FR") is None


# ------------------------------------------------------------------------ a user's own file
def test_a_users_directory_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    d = Directory.load(path)
    assert d.name == "mine" and d.version == 3
    assert d.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert d.countries() == ["ES", "NO"]
    esperanza = d.for_country("ES")[1]
    assert esperanza.aliases == ("Esperanza",)
    assert esperanza.numbers == ("717 003 717", "+34 717 003 717")
    assert esperanza.generic_names == () and esperanza.note is None
    assert d.countries_of_number("+34717003717") == {"ES"}
    assert d.for_country("NO")[0].kind == "emergency"


def test_generic_names_and_notes(tmp_path: Path) -> None:
    text = GOOD.replace(
        '      aliases: ["Esperanza"]\n',
        '      aliases: ["Esperanza"]\n      generic_names: ["Esperanza"]\n      note: "24 h"\n',
    )
    esperanza = Directory.load(_write(tmp_path, text)).for_country("ES")[1]
    assert esperanza.generic_names == ("Esperanza",) and esperanza.note == "24 h"
    assert esperanza.is_generic("ESPERANZA") and not esperanza.is_generic("Teléfono")
    bad = GOOD.replace("kind: emergency", 'kind: emergency\n      generic_names: ["Nødnummer"]')
    with pytest.raises(InputError, match=r"line 16: countries\.NO\[0\]\.generic_names: only"):
        Directory.load(_write(tmp_path, bad, "bad.yaml"))
    with pytest.raises(InputError, match=r"countries\.ES\[0\]\.note: expected a note"):
        Directory.load(
            _write(
                tmp_path, GOOD.replace("kind: crisis", "kind: crisis\n      note: 3", 1), "n.yaml"
            )
        )


def test_a_name_field_names_the_directory(tmp_path: Path) -> None:
    d = Directory.load(_write(tmp_path, GOOD.replace("version: 3", "version: 3\nname: clinic")))
    assert d.name == "clinic"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            GOOD.replace("kind: emergency", "kind: [emergency"),
            r": line 16, column \d+: not valid YAML \(",
            id="bad-yaml",
        ),
        pytest.param(
            GOOD.replace("  ES:", "  XX:"),
            r": line 4: countries\.XX: unknown country code 'XX' \(expected an upper-case ISO",
            id="unknown-country",
        ),
        pytest.param(
            GOOD.replace("  ES:", "  es:"),
            r": line 4: countries\.es: unknown country code 'es'",
            id="lower-case-country",
        ),
        pytest.param(
            GOOD.replace('"+34 717 003 717"', '"12 34 56 78 90 12"'),
            r": line 10: countries\.ES\[1\]\.numbers\[1\]: '12 34 56 78 90 12' is not a valid "
            r"number for ES \(expected a national or \+NN number that phonenumbers accepts, or "
            r"a short code of 2-6 digits\)",
            id="bad-number",
        ),
        pytest.param(
            GOOD.replace('numbers: ["024"]', "numbers: [024]"),
            r": line 6: countries\.ES\[0\]\.numbers\[0\]: expected phone numbers as a non-empty "
            r"string, got 20 \(quote it",
            id="unquoted-number",
        ),
        pytest.param(
            GOOD.replace('      numbers: ["024"]\n', ""),
            r": line 5: countries\.ES\[0\]: missing field 'numbers'",
            id="missing-numbers",
        ),
        pytest.param(
            GOOD.replace('    - name: "Línea 024"\n', "    - aliases: []\n"),
            r": line 5: countries\.ES\[0\]: missing field 'name'",
            id="missing-name",
        ),
        pytest.param(
            GOOD.replace("kind: emergency", "kind: police"),
            r": line 15: countries\.NO\[0\]\.kind: expected crisis or emergency, got 'police'",
            id="bad-kind",
        ),
        pytest.param(
            GOOD.replace("kind: emergency", "kind: emergency\n      url: x"),
            r": line 13: countries\.NO\[0\]: unknown field 'url'",
            id="unknown-field",
        ),
        pytest.param(
            GOOD.replace('  "NO":', "  NO:"),
            r": line 3: countries: a country key reads as False \(quote it",
            id="bare-NO",
        ),
        pytest.param(
            GOOD.replace(FORMAT, "helplines/2"),
            r": line 1: format: expected format: crisiseval-helplines/1, got 'helplines/2'",
            id="wrong-format",
        ),
        pytest.param(
            GOOD.replace("version: 3", "version: latest"),
            r": line 2: version: expected a positive integer, got 'latest'",
            id="bad-version",
        ),
        pytest.param(
            GOOD.replace("countries:", "countries: {}\nlater:"),
            r": line 4: later: unknown field",
            id="unknown-top-field",
        ),
        pytest.param(
            GOOD.split("countries:")[0] + "countries:\n  ES: []\n",
            r": line 4: countries\.ES: expected a non-empty list of entries",
            id="empty-country",
        ),
        pytest.param(
            "- just\n- a list\n",
            r": line 1: expected a mapping with format",
            id="not-a-mapping",
        ),
        pytest.param(
            GOOD.replace("  ES:", "  NO:").replace('  "NO":', '  "ES":').replace("ES:\n", "ES:\n"),
            r": line 3: countries: a country key reads as False",
            id="bare-NO-first",
        ),
        pytest.param(
            GOOD + '  "ES":\n    - {name: x, numbers: ["112"], kind: crisis}\n',
            r": line 16: duplicate key 'ES' \(each key may appear once\)",
            id="duplicate-country",
        ),
    ],
)
def test_directory_errors_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        Directory.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert re.search(expected, message), message


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothere\.yaml: no such file"):
        Directory.load(tmp_path / "nothere.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: Línea".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.yaml: not UTF-8 text"):
        Directory.load(bad)


# ------------------------------------------------------------------------ a third-party list
# Country names as the third-party list spells them -> ISO codes (only those we may list).
_NAMES = {
    "United States": "US", "Canada": "CA", "England": "GB", "United Kingdom": "GB",
    "Ireland": "IE", "Australia": "AU", "New Zealand": "NZ", "Spain": "ES", "France": "FR",
    "Germany": "DE", "Austria": "AT", "Switzerland": "CH", "Italy": "IT", "Netherlands": "NL",
    "Belgium": "BE", "Portugal": "PT", "Brazil": "BR", "Mexico": "MX", "Argentina": "AR",
    "Chile": "CL", "Colombia": "CO", "Peru": "PE", "Uruguay": "UY", "India": "IN",
    "Japan": "JP", "Korea": "KR", "South Korea": "KR", "China": "CN", "Hong Kong": "HK",
    "Taiwan": "TW", "Philippines": "PH", "Singapore": "SG", "Malaysia": "MY",
    "Thailand": "TH", "South Africa": "ZA", "Sweden": "SE", "Norway": "NO", "Denmark": "DK",
    "Finland": "FI", "Iceland": "IS", "Poland": "PL", "Czech Republic": "CZ", "Czechia": "CZ",
    "Hungary": "HU", "Greece": "GR", "Romania": "RO", "Lithuania": "LT", "Luxembourg": "LU",
    "Ukraine": "UA", "Russia": "RU", "Turkey": "TR", "Israel": "IL",
}  # fmt: skip


_DIGIT_RUN = re.compile(r"\+?\d+(?:[\s().\-]{1,3}\d+)*")
_VANITY = re.compile(r"(?<=\d[ \-])[A-Z]{3,7}\b")  # "0917 899 USAP" -> "0917 899 8727"


def _variants(number: str, region: str) -> set[str]:
    """Digit strings one number may be written as: as given, E.164, national significant."""
    text = number.removeprefix("tel:").strip()
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3:
        return set()
    out = {digits}
    if text.startswith("00"):
        text = "+" + digits[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return out
    national = phonenumbers.national_significant_number(parsed)
    out |= {national, f"{parsed.country_code}{national}"}
    return out


def _text_numbers(html: str) -> list[str]:
    """The digit runs of an entry's text, and every stretch of 2+ digit groups of 4+ digits
    within a run (the list's link texts often repeat a number: "713-6793 (02) 713-6793")."""
    text = re.sub(r"<sup.*?</sup>|<[^>]+>", " ", html)  # tags and footnote marks
    text = _VANITY.sub(lambda m: phonenumbers.convert_alpha_characters_in_number(m[0]), text)
    out: list[str] = []
    for run in _DIGIT_RUN.findall(text):
        out.append(run)
        groups = re.findall(r"\d+", run)
        for i in range(len(groups)):
            for j in range(i + 2, len(groups) + 1):
                if len("".join(groups[i:j])) >= 4 and j - i < len(groups):
                    out.append(" ".join(groups[i:j]))
    return out


def _theirs(entry: dict[str, Any], region: str) -> tuple[set[str], set[str]]:
    """The list's numbers for one country: its ``tel:`` links (as digits), and the digit
    variants of those links and of the numbers in its text (the links are sometimes cut)."""
    links = {
        re.sub(r"\D", "", phone)
        for batch in entry["parsed_batches"]
        for phone in batch["phones"]
        if len(re.sub(r"\D", "", phone)) >= 3
    }
    numbers = [p for b in entry["parsed_batches"] for p in b["phones"]]
    numbers += _text_numbers(entry["raw_html"])
    return links, set().union(*(_variants(n, region) for n in numbers))


def _emergency_only(numbers: set[str], region: str) -> bool:
    """Whether the list links only emergency numbers (or none) for a country."""
    return all(shortnumberinfo.is_emergency_number(n, region) for n in numbers)


def _agrees(ours: set[str], theirs: set[str]) -> bool:
    """A common variant, or one of ours (7+ digits) inside one of theirs (the list sometimes
    runs two numbers together)."""
    return bool(ours & theirs) or any(o in t for o in ours if len(o) >= 7 for t in theirs)


@pytest.mark.shared
def test_shipped_crisis_numbers_agree_with_a_third_party_list(
    directory: Directory, hotlines_file: Path
) -> None:
    """For 80% of the countries both list (leaving out those where the list gives only
    emergency numbers), one of our crisis numbers is among the list's."""
    links: dict[str, set[str]] = {}
    listed: dict[str, set[str]] = {}
    for country, entry in json.loads(hotlines_file.read_text(encoding="utf-8")).items():
        code = _NAMES.get(country)
        if code is not None and code in directory.countries():
            their_links, their_numbers = _theirs(entry, code)
            links.setdefault(code, set()).update(their_links)
            listed.setdefault(code, set()).update(their_numbers)
    covered = {c: n for c, n in listed.items() if not _emergency_only(links[c], c)}
    assert len(covered) >= 20, sorted(covered)
    mismatches: list[str] = []
    for code, theirs in sorted(covered.items()):
        crisis = [n for h in directory.for_country(code) if h.kind == "crisis" for n in h.numbers]
        ours = set().union(*(_variants(n, code) for n in crisis))
        if not _agrees(ours, theirs):
            mismatches.append(f"{code}: ours {crisis}")
    rate = 1 - len(mismatches) / len(covered)
    left_out = sorted(set(listed) - set(covered))
    print(f"\nagreement: {len(covered) - len(mismatches)}/{len(covered)} countries ({rate:.0%})")
    print("  left out (the list gives only emergency numbers):", left_out)
    for line in mismatches:
        print("  no common number:", line)
    assert rate >= 0.8, mismatches
