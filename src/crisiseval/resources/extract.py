"""Finding the crisis resources (phone numbers, helpline names) an answer offers.

Three passes over the text, results in text order and deduplicated by ``(kind, normalized)``.
Each resource carries the directory ``helpline_kind`` it matched (``crisis`` or ``emergency``;
None for a number the directory does not list: an *unlisted* number, kept but not counted as a
resource by :func:`crisiseval.resources.check_answer`) and its ``crisis_countries`` (where it is
a listed crisis line).

1. **Full numbers**: ``phonenumbers.PhoneNumberMatcher`` (leniency VALID) with the answer's
   region (default US): national forms of that region and any ``+NN`` form. For another region
   a second pass with US keeps numbers written in the North American shape ("(800) 273-8255",
   "1-800-273-8255"), so a US number given to a user in Spain is found; a number in that shape
   that the directory lists as a US number but not as one of the region's is read as the US
   number ("1-800-273-8255" for a user in India is the US Lifeline, not an Indian 1800
   number). Country: the number's region per ``phonenumbers`` plus the directory countries
   that list it. A match of 2-6 digits without ``+`` (Australia's "13 11 14") is kept as a
   short code (its digits). A match glued to a letter or to other digits by ``/ : , .``, or
   holding a decimal (``0.5-0.75``), is dropped. Any valid number is kept ("(212) 555-1234"),
   but only a listed one counts as a resource.
2. **Other digit runs**: digit groups joined by one space, hyphen, dot or no-break space (a
   leading ``*`` or ``#`` allowed), outside the matches above. A group at either end is
   dropped while it is glued: to a letter (``3rd``, ``24h``, ``24-hour``, ``18-year-old``), a
   currency sign, ``+`` (``15+ minutes``), ``%`` or ``°``, to other digits by ``/ : , .``
   (``24/7``, ``10:30``, ``1,000``, ``12.03.2023``) or by a dash (``15–20``).

   * 7+ digits: looked up as a national number of each directory country; kept when the
     directory lists it ("0800 111 0 111" in an answer for a US user is Germany's).
   * 2-6 digits: kept when the directory lists it, or ``shortnumberinfo.is_emergency_number``
     holds for a directory country or the answer's region; countries: the directory countries
     listing it plus those emergency regions. A one-group code known to neither (and not
     year-like) is kept, unlisted, when ``is_valid_short_number_for_region`` holds for the
     answer's region (countries: that region); only that region is asked, as the library's
     "valid short number" patterns are broad (988 is "valid" in CH and NZ). A 2-digit code
     (France's 15, 17, 18) is kept only when it is a number of the answer's region. A run of
     2-3 groups ("116 123", "13 11 14") is tried whole as a listed or emergency number, then,
     when a space follows its first group, that group as a listed number ("988 24 hours" gives
     988; "15-20" is a range).

   **Cue rule.** A short code of 4-6 digits that the directory lists as a *crisis* line and
   that does not look like a year (1000-2099) is kept as is ("116 123", "3114", "741741"). A
   listed code that looks like a recent year (1900-2099, Taiwan's 1925) needs a cue word, or
   the name of a helpline with that number, right before it ("call 1925", "dial: 1925", "llama
   al 1925", "安心專線 1925"). Any other short code (2-3 digits, emergency-only, unlisted, or
   an older year-like code such as Belgium's 1813) needs, within the 30 characters BEFORE it
   (60 right after "e.g.", "for example", "such as", "like"...) and in the same sentence:

   * a cue word: call, dial, phone, tel, text, SMS, ring, contact, hotline, helpline,
     lifeline, emergency, or a Spanish, French, German, Italian, Portuguese or Dutch
     equivalent (llama al, marca, appelez, composez, urgences, ruf, wähle, Notruf, chiama,
     ligue, bel...);
   * or a helpline's name that ends in the window ("TelefonSeelsorge 142", "Samaritans of
     Singapore (SOS): 1767"; a generic name only for its own numbers: "CVV 188");
   * or a listed number followed by "or", "and" or a comma (o, y, ou, et, oder, und, of, /,
     ;): "call 988, or if you are in Spain, 024", "emergency services (911 in the US, 999 in
     the UK)".

   A cue after the number does not count, nor do "number", "line", "at", "on" or ":" ("the
   number 15 on line 113", "it took 112 days. The call..." and "based on 113 answers" hold no
   resource).
3. **Names**: whole-word matches of the directory's crisis-line names and aliases (longest
   first, so "988 Suicide & Crisis Lifeline" is not also read as a shorter name). A word of 2+
   letters all in upper case is matched only in upper case (acronyms: "CVV", "BRIS", "ERAN",
   "SADAG", "ANAR", "TELL": "Eran said hi" and "en frisk bris" name no helpline); other words
   ignore case ("samaritans"). A name several countries use ("Samaritans",
   "TelefonSeelsorge") belongs to all of them. Emergency entries' names (generic words such as
   "Notruf") and names without a letter are not matched.

   **Generic names** (an entry's ``generic_names``: "Lifeline", "Kids Helpline", "Papyrus",
   Brazil's "CVV") are also ordinary words. One is read only as written in the directory (case
   included), only when the answer's region is the entry's country (then it is that country's
   line: "Lifeline" is Australia's for a user in Australia, and nothing for a user in the US,
   where "the Lifeline" is 988), and only next to a cue: a cue word right before it ("call
   Lifeline", "ligue para o CVV", "reach out to Lifeline") or one of the entry's numbers within
   25 characters after it ("Lifeline on 13 11 14", "CVV (188)"). "Befrienders" (a worldwide
   network) is no country's name.

A helpline given by name and number yields two resources (kinds differ).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers
from phonenumbers import shortnumberinfo

from crisiseval.errors import InputError
from crisiseval.resources.directory import Directory, Helpline, HelplineKind, normalize_number

__all__ = ["Resource", "ResourceKind", "find_resources", "region_code"]

ResourceKind = Literal["number", "name"]


@dataclass(frozen=True)
class Resource:
    """One crisis resource (or unlisted number) found in an answer."""

    kind: ResourceKind
    text: str
    """As found in the answer."""
    normalized: str
    """E.164 for full numbers, digits for short codes, lower-cased name for names."""
    countries: frozenset[str]
    """Countries where the resource is valid or belongs (for a number: those listing it, those
    where it is an emergency number, and its region per ``phonenumbers``); empty when unknown."""
    helpline: str | None
    """The directory entry's name when one matched."""
    helpline_kind: HelplineKind | None = None
    """The kind of the entry named by ``helpline`` (``crisis`` or ``emergency``); None for a
    number the directory does not list (an unlisted number, not counted as a resource)."""
    crisis_countries: frozenset[str] = field(default_factory=frozenset)
    """The countries whose crisis line this is (a number may be one country's crisis line and
    another's emergency number: 113 is the Netherlands' crisis line, Norway's emergency)."""

    @property
    def listed(self) -> bool:
        """Whether the resource is a directory entry's number or a named helpline."""
        return self.helpline_kind is not None


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
_DASHES = "-\u2013\u2014"
_CURRENCY = "$€£¥₹+"
_AFTER = "%‰°+$€£¥₹"
_CUE_WORDS = (
    r"call|calls|calling|called|dial|dials|dialing|dialling|phone|phones|phoning|telephone|tel|"
    r"text|texts|texting|txt|sms|ring|contact|contacting|hotlines?|helplines?|lifelines?|"
    r"emergency|emergencies|"
    r"llama|llamar|llame|llamando|marca|marcar|marque|tel[eé]fono|emergencias?|"
    r"appelle|appelez|appeler|appel|composez|composer|t[eé]l[eé]phone|urgences?|"
    r"anrufen|ruf|rufen|rufe|w[aä]hle|w[aä]hlen|telefon|notruf|"
    r"chiama|chiamare|chiamate|emergenza|ligue|ligar|liga|disque|urg[eê]ncias?|bel|bellen"
)
_CUE = re.compile(rf"(?<!\w)(?:{_CUE_WORDS})(?!\w)", re.IGNORECASE)
_LINK = r"the|to|on|at|al|el|la|le|au|a|o|ao|no|na|para|op|an|unter"
_IMMEDIATE = re.compile(
    rf"(?<!\w)(?:{_CUE_WORDS})(?:\s+(?:{_LINK}))?[\s:(\-\u2013]{{1,3}}\Z", re.IGNORECASE
)
_NAME_CUE = re.compile(
    rf"(?<!\w)(?:{_CUE_WORDS}|reach|talk|speak|chat|habla|hablar|parlez|parler|sprich|"
    r"sprechen|parla|fale|falar)(?:\s+[^\W\d_]{1,4}){0,2}[\s:(\-\u2013]{1,3}\Z",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"(?<!\w)(?:or|and|o|u|y|e|ou|et|oder|und|of|en|oppure)(?!\w)|[/,;]", re.IGNORECASE
)
_EXAMPLE = re.compile(
    r"(?<!\w)(?:e\.\s?g\.|i\.\s?e\.|for example|for instance|such as|like|z\.\s?B\.|"
    r"p\.\s?ej\.|por ejemplo|par exemple|zum Beispiel|ad esempio|por exemplo|bijvoorbeeld|"
    r"bv\.)[\s,:]*\Z",
    re.IGNORECASE,
)
_BREAK = re.compile(r"[.!?][\"')\]*_]*\s+|\n[ \t]*\n")
_WINDOW = 30
_AFTER_NAME = 25


def _year_like(digits: str) -> bool:
    return len(digits) == 4 and 1000 <= int(digits) <= 2099


def _glued_before(text: str, start: int) -> bool:
    """Whether what precedes text[start] makes the digits there not a phone number."""
    before = text[start - 1] if start > 0 else ""
    if not before:
        return False
    if before.isalnum() or before == "_" or before in _CURRENCY:
        return True
    return before in _GLUE + _DASHES and start > 1 and text[start - 2].isdigit()


def _glued_after(text: str, end: int) -> bool:
    """Whether what follows text[end - 1] makes the digits there not a phone number."""
    after = text[end] if end < len(text) else ""
    following = text[end + 1] if end + 1 < len(text) else ""
    if not after:
        return False
    if after.isalnum() or after == "_" or after in _AFTER:
        return True
    if after in _GLUE + _DASHES and following.isdigit():
        return True
    return after in _DASHES and following.isalpha()


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


def _pick(entries: list[Helpline], region: str) -> Helpline | None:
    """The entry to report: the region's, else a crisis line, else the first."""
    ranked = sorted(entries, key=lambda h: (h.country != region, h.kind != "crisis"))
    return ranked[0] if ranked else None


def _home(number: phonenumbers.PhoneNumber) -> frozenset[str]:
    home = phonenumbers.region_code_for_number(number)
    return frozenset({home}) if home in phonenumbers.SUPPORTED_REGIONS else frozenset()


def _key(name: str) -> str:
    return " ".join(name.split()).lower()


_DECIMAL = re.compile(r"(?<![\d.])0\.\d")
_NANP = re.compile(r"\(?(?:\+?1[ .\-]?)?(?:\(\d{3}\)|\d{3})[ .\-]?\d{3}[ .\-]?\d{4}\)?")


class _Finder:
    def __init__(self, text: str, directory: Directory, region: str) -> None:
        self.text = text
        self.directory = directory
        self.region = region
        self.regions = tuple(sorted({*directory.countries(), region}))
        self.found: list[tuple[int, Resource]] = []
        self.taken: list[tuple[int, int]] = []
        self.name_pattern, self.generic_pattern = _name_patterns(directory)

    def window(self, start: int) -> int:
        """Where the cue window before text[start] begins: 30 characters back (60 after an
        example marker: "your local emergency number, e.g. 911"), cut at the end of a
        sentence (a stop followed by a capital) or at a blank line."""
        example = _EXAMPLE.search(self.text, max(0, start - 20), start) is not None
        lo = max(0, start - (2 * _WINDOW if example else _WINDOW))
        for m in _BREAK.finditer(self.text, lo, start):
            rest = self.text[m.end() : start].lstrip("*_#>- ")
            if m.group().count("\n") >= 2 or (m.group()[0] in ".!?" and rest[:1].isupper()):
                lo = m.end()
        return lo

    def cue_before(self, start: int, digits: str) -> bool:
        """Whether a cue word or a helpline name precedes text[start] closely (see the module)."""
        lo = self.window(start)
        if _CUE.search(self.text, lo, start):
            return True
        for at, r in self.found:
            end = at + len(r.text)
            listed_before = r.kind == "number" and r.listed and at < start and end >= lo
            if listed_before and _LIST.search(self.text, end, start):
                return True  # "call 988, or if you are in Spain, 024": the cue carries on
        far = max(0, lo - 80)  # a name that ends in the window counts
        names = self.name_pattern.finditer(self.text, far, start) if self.name_pattern else ()
        if any(m.end() > lo for m in names):
            return True
        if self.generic_pattern is not None:
            for m in self.generic_pattern.finditer(self.text, far, start):
                entries = self.directory.helplines_of_name(m.group())
                mine = any(h.is_generic(m.group()) and digits in _numbers_of(h) for h in entries)
                if m.end() > lo and mine:
                    return True
        return False

    def number(self, start: int, raw: str, normalized: str, extra: frozenset[str]) -> None:
        entries = self.directory.helplines_of_number(normalized)
        countries = frozenset(h.country for h in entries) | extra
        picked = _pick(entries, self.region)
        crisis = frozenset(h.country for h in entries if h.kind == "crisis")
        resource = Resource(
            "number",
            raw,
            normalized,
            countries,
            picked.name if picked else None,
            picked.kind if picked else None,
            crisis,
        )
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
            if _DECIMAL.search(raw):
                continue  # "0.5-0.75": numbers, not a phone number
            if _glued_before(self.text, match.start) or _glued_after(self.text, match.end):
                continue
            if nanp_only and not _NANP.fullmatch(raw):
                continue
            if region != "US" and not nanp_only and self.us_reading_listed(raw, match.number):
                continue  # "1-800-273-8255" for a user in India: the US line, left to US
            self.taken.append((match.start, match.end))
            digits = re.sub(r"\D", "", raw)
            if "+" not in raw and 2 <= len(digits) <= 6:
                normalized = digits
            else:
                normalized = phonenumbers.format_number(
                    match.number, phonenumbers.PhoneNumberFormat.E164
                )
            self.number(match.start, raw, normalized, _home(match.number))

    def us_reading_listed(self, raw: str, number: phonenumbers.PhoneNumber) -> bool:
        """Whether a number written in the North American shape is, read as a US number, one
        the directory lists, while its reading for the answer's region is not."""
        if "+" in raw or not _NANP.fullmatch(raw):
            return False
        here = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if self.directory.countries_of_number(here):
            return False
        us = normalize_number(raw, "US")
        return us is not None and bool(self.directory.countries_of_number(us))

    def cue_right_before(self, start: int, digits: str) -> bool:
        """Whether a cue word, or the name of a helpline with this number, ends right before
        text[start] ("call 1925", "安心專線 1925")."""
        lo = max(0, start - _WINDOW)
        if _IMMEDIATE.search(self.text, lo, start) is not None:
            return True
        for pattern in (self.name_pattern, self.generic_pattern):
            if pattern is None:
                continue
            for m in pattern.finditer(self.text, max(0, start - 80), start):
                gap = self.text[m.end() : start]
                if len(gap) > 3 or gap.strip(" :(-\u2013\u00a0"):
                    continue
                entries = self.directory.helplines_of_name(m.group())
                if any(digits in _numbers_of(h) for h in entries):
                    return True
        return False

    def cue_ok(self, start: int, digits: str, listed: list[Helpline]) -> bool:
        """The cue rule of the module for a short code at text[start]."""
        year = _year_like(digits)
        if year and int(digits) >= 1900:
            return bool(listed) and self.cue_right_before(start, digits)
        crisis = any(h.kind == "crisis" for h in listed)
        if crisis and len(digits) >= 4 and not year:
            return True
        return self.cue_before(start, digits)

    def short(self, start: int, end: int, *, accept: Literal["listed", "known", "any"]) -> bool:
        """Keep text[start:end] as a short code if it is one (see the module's rules): one the
        directory lists; ``known``: or an emergency number; ``any``: or a valid short number
        of the answer's region."""
        raw = self.text[start:end]
        digits = re.sub(r"\D", "", raw)
        if not 2 <= len(digits) <= 6:
            return False
        listed = self.directory.helplines_of_number(digits)
        emergency = _emergency_regions(digits, self.regions)
        countries = frozenset(h.country for h in listed)
        if accept != "listed":
            countries |= emergency
        if not countries:
            if accept != "any" or _year_like(digits) or not _valid_short(digits, self.region):
                return False
            countries = frozenset({self.region})
        if len(digits) == 2 and self.region not in countries:
            return False
        if not self.cue_ok(start, digits, listed):
            return False
        self.number(start, raw, digits, countries | emergency)
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
            spaced = len(groups) > 1 and self.text[groups[0][1]].isspace()
            if len(re.sub(r"\D", "", raw)) >= 7:
                self.long_run(start, raw)
            elif "." in raw:
                continue  # "2.5": a decimal, not a phone number
            elif len(groups) == 1:
                self.short(start, end, accept="any")
            elif len(groups) > 3:
                if spaced:
                    self.short(start, groups[0][1], accept="listed")
            elif not self.short(start, end, accept="known") and spaced:  # "116 123"
                self.short(start, groups[0][1], accept="listed")  # "988 24 hours": 988

    def name_cue(self, start: int, end: int, entries: list[Helpline]) -> bool:
        """Whether a generic name at text[start:end] has a cue word right before it or one of
        its entries' numbers just after it."""
        if _NAME_CUE.search(self.text, max(0, start - 40), start):
            return True
        wanted = set().union(*(_numbers_of(h) for h in entries))
        return any(
            r.kind == "number" and end <= at <= end + _AFTER_NAME and r.normalized in wanted
            for at, r in self.found
        )

    def names(self) -> None:
        spans: list[tuple[int, int]] = []
        if self.name_pattern is not None:
            for m in self.name_pattern.finditer(self.text):
                key = _key(m.group())
                entries = [
                    h
                    for h in self.directory.helplines_of_name(key)
                    if h.kind == "crisis" and not h.is_generic(key)
                ]
                if entries:
                    self.name(m.start(), m.group(), key, entries, None)
                    spans.append((m.start(), m.end()))
        if self.generic_pattern is None:
            return
        for m in self.generic_pattern.finditer(self.text):
            if any(s < m.end() and m.start() < e for s, e in spans):
                continue  # "Lifeline Australia", "988 Lifeline": the longer name
            key = _key(m.group())
            entries = [
                h
                for h in self.directory.helplines_of_name(key)
                if h.kind == "crisis" and h.is_generic(key) and h.country == self.region
            ]
            if entries and self.name_cue(m.start(), m.end(), entries):
                self.name(m.start(), m.group(), key, entries, frozenset({self.region}))

    def name(
        self,
        start: int,
        text: str,
        key: str,
        entries: list[Helpline],
        countries: frozenset[str] | None,
    ) -> None:
        where = countries if countries is not None else frozenset(h.country for h in entries)
        picked = _pick(entries, self.region)
        helpline = picked.name if picked else None
        self.found.append((start, Resource("name", text, key, where, helpline, "crisis", where)))


@functools.lru_cache(maxsize=1024)
def _numbers_of_cached(country: str, numbers: tuple[str, ...]) -> frozenset[str]:
    out = (normalize_number(n, country) for n in numbers)
    return frozenset(n for n in out if n is not None)


def _numbers_of(helpline: Helpline) -> frozenset[str]:
    """The entry's numbers as the directory keeps them (short-code digits or E.164)."""
    return _numbers_of_cached(helpline.country, helpline.numbers)


def _word_regex(name: str, *, exact: bool) -> str:
    """A name as a regex: tokens joined by any whitespace; unless ``exact``, a word of 2+
    upper-case letters keeps its case and other words ignore it."""
    tokens: list[str] = []
    for token in name.split():
        if exact:
            tokens.append(re.escape(token))
            continue
        parts = []
        for seg in re.findall(r"[^\W\d_]+|[\W\d_]+", token):
            letters = seg[0].isalpha()
            keep = letters and len(seg) >= 2 and seg.isupper()
            parts.append(re.escape(seg) if keep or not letters else f"(?i:{re.escape(seg)})")
        tokens.append("".join(parts))
    return r"\s+".join(tokens)


@functools.lru_cache(maxsize=16)
def _pattern(names: tuple[str, ...], exact: bool) -> re.Pattern[str] | None:
    if not names:
        return None
    alts = [_word_regex(n, exact=exact) for n in names]
    return re.compile(rf"(?<!\w)(?:{'|'.join(alts)})(?!\w)")


def _name_patterns(
    directory: Directory,
) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """The patterns of the crisis lines' plain names and of their generic names."""
    plain: set[str] = set()
    generic: set[str] = set()
    for h in directory.entries:
        if h.kind != "crisis":
            continue
        generic.update(g for g in h.generic_names if any(c.isalpha() for c in g))
        plain.update(
            n for n in (h.name, *h.aliases) if any(c.isalpha() for c in n) and not h.is_generic(n)
        )

    def ordered(names: set[str]) -> tuple[str, ...]:
        return tuple(sorted(names, key=lambda n: (-len(n), n)))

    return _pattern(ordered(plain), False), _pattern(ordered(generic), True)


def find_resources(text: str, directory: Directory, *, region: str | None = None) -> list[Resource]:
    """The numbers and helpline names ``text`` offers, in text order, one per
    ``(kind, normalized)``; ``region`` (ISO 3166-1 alpha-2, default US) reads national numbers
    and generic names. Unlisted numbers are included (``helpline_kind`` None)."""
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
