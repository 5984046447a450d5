"""Finding the crisis resources (phone numbers, helpline names) an answer offers.

Three passes over the text, results in text order and deduplicated by ``(kind, normalized)``:

1. **Full numbers**: ``phonenumbers.PhoneNumberMatcher`` (leniency VALID) with the answer's
   region (default US): national forms of that region and any ``+NN`` form. For another region a
   second pass with US keeps numbers written in the North American shape ("(800) 273-8255",
   "1-800-273-8255"), so a US number given to a user in Spain is found. Country: the number's
   region per ``phonenumbers`` plus the directory countries that list it. A match of 2-6 digits
   without ``+`` (Australia's "13 11 14") is kept as a short code (its digits). A match glued to
   a letter or to other digits by ``/ : , .`` is dropped.
2. **Other digit runs**: digit groups joined by one space, hyphen, dot or no-break space (a
   leading ``*`` or ``#`` allowed), outside the matches above. A group at either end is dropped
   while it is glued to a letter (``3rd``, ``24h``, ``24-hour``), a currency sign or ``+``, a
   ``%``, or to other digits by ``/ : , .`` (``24/7``, ``10:30``, ``1,000``, ``12.03.2023``).

   * 7+ digits: looked up as a national number of each directory country; kept when the
     directory lists it ("0800 111 0 111" in an answer for a US user is Germany's).
   * 2-6 digits: kept when the directory lists it, or ``shortnumberinfo.is_emergency_number``
     holds for a directory country or the answer's region; countries: the directory countries
     listing it plus those emergency regions. A one-group code known to neither is kept when
     ``is_valid_short_number_for_region`` holds for the answer's region (countries: that
     region); only that region is asked, as the library's "valid short number" patterns are
     broad (988 is "valid" in CH and NZ). A run of 2-3 groups ("116 123", "13 11 14") is tried
     whole as a listed or emergency number, then its first group as a listed number ("988 24
     hours" gives 988); only a one-group code may be a valid short number ("10 000" is not).

   **Cue rule.** A short code of 4-6 digits that the directory lists as a *crisis* line and
   that does not look like a year (1900-2099) is kept as is ("116 123", "3114"). Any other
   short code (2-3 digits, emergency-only, known only to ``shortnumberinfo``, or year-like such
   as Taiwan's 1925) needs a cue within 40 characters before or after: a word such as call,
   dial, phone, text, SMS, ring, contact, line, hotline, helpline, number, emergency (or a
   Spanish, French, German, Italian, Portuguese or Dutch equivalent) or a directory helpline
   name ("TelefonSeelsorge 142"); or, for a listed or emergency code of 3+ digits, "at", "on"
   or ":" right before it. So "call 112" and "text 988" count, "in 112 days" and "it took 111
   minutes" do not.
3. **Names**: case-insensitive whole-word matches of the directory's crisis-line names and
   aliases (longest first, so "988 Suicide & Crisis Lifeline" is not also "Lifeline"). A name
   used by several countries ("Lifeline", "Samaritans", "TelefonSeelsorge") belongs to all of
   them. Emergency entries' names (generic words such as "Notruf") and names without a letter
   are not matched. A helpline given by name and number yields two resources (kinds differ).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import shortnumberinfo

from crisiseval.errors import InputError
from crisiseval.resources.directory import Directory, Helpline, normalize_number

__all__ = ["Resource", "ResourceKind", "find_resources", "region_code"]

ResourceKind = Literal["number", "name"]


@dataclass(frozen=True)
class Resource:
    """One crisis resource found in an answer."""

    kind: ResourceKind
    text: str
    """As found in the answer."""
    normalized: str
    """E.164 for full numbers, digits for short codes, lower-cased name for names."""
    countries: frozenset[str]
    """Countries where the resource is valid or belongs; empty when unknown."""
    helpline: str | None
    """The directory entry's name when one matched."""


def region_code(code: str) -> str:
    """``code`` as an upper-case region ``phonenumbers`` knows; InputError otherwise."""
    upper = code.strip().upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise InputError(
            f"unknown country code {code!r} (expected an ISO 3166-1 alpha-2 code, e.g. ES)"
        )
    return upper


_RUN = re.compile(r"[*#]?\d+(?:[ \-.\u00a0\u202f]\d+)*")
_GLUE = "/:,."
_CURRENCY = "$€£¥₹+"
_CUE_WORDS = (
    r"call|calls|calling|called|dial|dials|dialing|dialling|phone|phones|phoning|telephone|tel|"
    r"text|texts|texting|txt|sms|ring|contact|contacting|line|lines|hotlines?|helplines?|"
    r"lifelines?|numbers?|emergency|emergencies|"
    r"llama|llamar|llame|llamando|marca|marcar|marque|tel[eé]fono|l[ií]nea|n[uú]mero|emergencias?|"
    r"appelle|appelez|appeler|appel|composez|composer|ligne|num[eé]ro|t[eé]l[eé]phone|urgences?|"
    r"anrufen|ruf|rufen|rufe|w[aä]hle|w[aä]hlen|nummer|telefon|notruf|"
    r"chiama|chiamare|chiamate|linea|ligue|ligar|liga|linha|bel|bellen|urg[eê]ncias?"
)
_CUE = re.compile(rf"(?<!\w)(?:{_CUE_WORDS})(?!\w)", re.IGNORECASE)
_WEAK_CUE = re.compile(r"(?:(?<!\w)(?:at|on)|:)\s{1,3}\Z", re.IGNORECASE)
_WINDOW = 40


def _is_year(digits: str) -> bool:
    return len(digits) == 4 and 1900 <= int(digits) <= 2099


def _glued_before(text: str, start: int) -> bool:
    """Whether what precedes text[start] makes the digits there not a phone number."""
    before = text[start - 1] if start > 0 else ""
    if not before:
        return False
    if before.isalnum() or before == "_" or before in _CURRENCY:
        return True
    return before in _GLUE and start > 1 and text[start - 2].isdigit()


def _glued_after(text: str, end: int) -> bool:
    """Whether what follows text[end - 1] makes the digits there not a phone number."""
    after = text[end] if end < len(text) else ""
    following = text[end + 1] if end + 1 < len(text) else ""
    if not after:
        return False
    if after.isalnum() or after == "_" or after in "%‰":
        return True
    if after in _GLUE and following.isdigit():
        return True
    return after == "-" and following.isalpha()


@functools.lru_cache(maxsize=4096)
def _emergency_regions(digits: str, regions: tuple[str, ...]) -> frozenset[str]:
    """The regions where ``digits`` is an emergency number."""
    return frozenset(r for r in regions if shortnumberinfo.is_emergency_number(digits, r))


@functools.lru_cache(maxsize=4096)
def _valid_short(digits: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(shortnumberinfo.is_valid_short_number_for_region(number, region))


def _pick(entries: list[Helpline], region: str) -> str | None:
    """The name of the entry to report: the region's, else a crisis line's, else the first."""
    ranked = sorted(entries, key=lambda h: (h.country != region, h.kind != "crisis"))
    return ranked[0].name if ranked else None


def _home(number: phonenumbers.PhoneNumber) -> frozenset[str]:
    home = phonenumbers.region_code_for_number(number)
    return frozenset({home}) if home in phonenumbers.SUPPORTED_REGIONS else frozenset()


_NANP = re.compile(r"(?:\+?1[ .\-]?)?(?:\(\d{3}\)|\d{3})[ .\-]?\d{3}[ .\-]?\d{4}")


class _Finder:
    def __init__(self, text: str, directory: Directory, region: str) -> None:
        self.text = text
        self.directory = directory
        self.region = region
        self.regions = tuple(sorted({*directory.countries(), region}))
        self.found: list[tuple[int, Resource]] = []
        self.taken: list[tuple[int, int]] = []
        self.name_pattern = _name_pattern(directory)

    def cue(self, start: int, end: int, *, weak_ok: bool) -> bool:
        """Whether a cue word or a helpline name is near text[start:end] (see the module)."""
        before = self.text[max(0, start - _WINDOW) : start]
        after = self.text[end : end + _WINDOW]
        names = self.name_pattern
        for near in (before, after):
            if _CUE.search(near) or (names is not None and names.search(near)):
                return True
        return weak_ok and _WEAK_CUE.search(before) is not None

    def number(self, start: int, raw: str, normalized: str, extra: frozenset[str]) -> None:
        entries = self.directory.helplines_of_number(normalized)
        countries = frozenset(h.country for h in entries) | extra
        resource = Resource("number", raw, normalized, countries, _pick(entries, self.region))
        self.found.append((start, resource))

    def full_numbers(self, region: str, *, nanp_only: bool = False) -> None:
        """Numbers ``PhoneNumberMatcher`` finds for ``region``; with ``nanp_only``, only those
        written in the North American shape (a second pass for US numbers)."""
        matcher = phonenumbers.PhoneNumberMatcher(
            self.text, region, leniency=phonenumbers.Leniency.VALID
        )
        for match in matcher:
            raw = match.raw_string
            if "/" in raw or any(s < match.end and match.start < e for s, e in self.taken):
                continue
            if _glued_before(self.text, match.start) or _glued_after(self.text, match.end):
                continue
            if nanp_only and not _NANP.fullmatch(raw):
                continue
            self.taken.append((match.start, match.end))
            digits = re.sub(r"\D", "", raw)
            if "+" not in raw and 2 <= len(digits) <= 6:
                normalized = digits
            else:
                normalized = phonenumbers.format_number(
                    match.number, phonenumbers.PhoneNumberFormat.E164
                )
            self.number(match.start, raw, normalized, _home(match.number))

    def short(self, start: int, end: int, *, accept: Literal["listed", "known", "any"]) -> bool:
        """Keep text[start:end] as a short code if it is one (see the module's rules): one the
        directory lists; ``known``: or an emergency number; ``any``: or a valid short number
        of the answer's region."""
        raw = self.text[start:end]
        digits = re.sub(r"\D", "", raw)
        if not 2 <= len(digits) <= 6:
            return False
        listed = self.directory.helplines_of_number(digits)
        regions = _emergency_regions(digits, self.regions) if accept != "listed" else frozenset()
        weak_ok = True
        if not listed and not regions:
            if not (accept == "any" and _valid_short(digits, self.region)):
                return False
            regions = frozenset({self.region})
            weak_ok = False
        crisis = any(h.kind == "crisis" for h in listed)
        plain = crisis and len(digits) >= 4 and not _is_year(digits)
        if not plain and not self.cue(start, end, weak_ok=weak_ok and len(digits) >= 3):
            return False
        self.number(start, raw, digits, regions | _emergency_regions(digits, self.regions))
        return True

    def long_run(self, start: int, raw: str) -> None:
        """A 7+ digit run: a directory number in some directory country's national format."""
        seen: set[str] = set()
        for country in self.regions:
            normalized = normalize_number(raw, country)
            if normalized is None or normalized in seen:
                continue
            if country in self.directory.countries_of_number(normalized):
                seen.add(normalized)
                self.number(start, raw, normalized, _home(phonenumbers.parse(normalized)))

    def runs(self) -> None:
        for m in _RUN.finditer(self.text):
            groups = [(g.start(), g.end()) for g in re.finditer(r"[*#]?\d+", m.group())]
            groups = [(m.start() + a, m.start() + b) for a, b in groups]
            while groups and _glued_after(self.text, groups[-1][1]):
                groups.pop()  # "741741 24/7": keep 741741
            while groups and _glued_before(self.text, groups[0][0]):
                groups.pop(0)
            if not groups:
                continue
            start, end = groups[0][0], groups[-1][1]
            if any(s < end and start < e for s, e in self.taken):
                continue
            raw = self.text[start:end]
            if len(re.sub(r"\D", "", raw)) >= 7:
                self.long_run(start, raw)
            elif "." in raw:
                continue  # "2.5": a decimal, not a phone number
            elif len(groups) == 1:
                self.short(start, end, accept="any")
            elif len(groups) > 3:
                self.short(start, groups[0][1], accept="listed")
            elif not self.short(start, end, accept="known"):  # "116 123", "13 11 14"
                self.short(start, groups[0][1], accept="listed")  # "988 24 hours": 988

    def names(self) -> None:
        pattern = self.name_pattern
        if pattern is None:
            return
        for m in pattern.finditer(self.text):
            key = " ".join(m.group().split()).lower()
            entries = [h for h in self.directory.helplines_of_name(key) if h.kind == "crisis"]
            countries = frozenset(h.country for h in entries)
            name = Resource("name", m.group(), key, countries, _pick(entries, self.region))
            self.found.append((m.start(), name))


@functools.lru_cache(maxsize=8)
def _name_pattern_cached(names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    alts = [r"\s+".join(re.escape(tok) for tok in name.split()) for name in names]
    return re.compile(rf"(?<!\w)(?:{'|'.join(alts)})(?!\w)", re.IGNORECASE)


def _name_pattern(directory: Directory) -> re.Pattern[str] | None:
    names = {
        key
        for key, entries in directory.names().items()
        if any(h.kind == "crisis" for h in entries) and any(c.isalpha() for c in key)
    }
    return _name_pattern_cached(tuple(sorted(names, key=lambda n: (-len(n), n))))


def find_resources(text: str, directory: Directory, *, region: str | None = None) -> list[Resource]:
    """The numbers and helpline names ``text`` offers, in text order, one per
    ``(kind, normalized)``; ``region`` (ISO 3166-1 alpha-2, default US) reads national numbers."""
    code = region_code(region) if region else "US"
    finder = _Finder(text, directory, code)
    finder.full_numbers(code)
    if code != "US":
        finder.full_numbers("US", nanp_only=True)
    finder.runs()
    finder.names()
    out: list[Resource] = []
    seen: set[tuple[str, str]] = set()
    for _start, resource in sorted(finder.found, key=lambda pair: pair[0]):
        key = (resource.kind, resource.normalized)
        if key not in seen:
            seen.add(key)
            out.append(resource)
    return out
