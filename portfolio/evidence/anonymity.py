"""Spot details in what people type that could identify the people a worker supports.

Every free-text field - titles, every kind of evidence's text, link notes,
decision and note comments, promotion reasons, verification notes, appraisal
and CPD text - goes through :func:`require_anonymous`, which checks for five
kinds of identifier: NHS numbers, dates of birth, UK postcodes, UK phone
numbers and email addresses, and names the field and what it found. A
reflection's prompts alone may keep a detail its author confirms (see
evidence/service.py). The checks are hand-written for UK social-prescribing
practice; each detector's docstring states its rule exactly.

Typical use, for a reflection stored as sanitised rich-text HTML::

    text = plain_text(reflection.body_html)
    findings = find_identifiers(text)
    if findings:
        marked_up = highlight(text, findings)   # safe to put in a template
        counts = summary(findings)              # [("NHS number", 2), ...]

Offsets in a :class:`Finding` are Python ``str`` indices (code points) into the
exact string that was checked, so ``text[f.start:f.end] == f.text``.

This is a safety net, not a guarantee of anonymity: names, addresses, places
and rare circumstances are not looked for, and a finding is only a *possible*
identifier for the worker to review.
"""

from __future__ import annotations

import bisect
import datetime
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

from markupsafe import Markup, escape

from .. import clock
from ..errors import FieldError

__all__ = [
    "DATE_OF_BIRTH",
    "IdentifyingDetails",
    "EMAIL_ADDRESS",
    "KINDS",
    "NHS_NUMBER",
    "PHONE_NUMBER",
    "POSTCODE",
    "Finding",
    "describe",
    "find_identifiers",
    "findings_in",
    "highlight",
    "message_for",
    "nhs_number_is_valid",
    "require_anonymous",
    "plain_text",
    "summary",
]

NHS_NUMBER = "NHS number"
DATE_OF_BIRTH = "date of birth"
POSTCODE = "postcode"
PHONE_NUMBER = "phone number"
EMAIL_ADDRESS = "email address"

#: Every kind, in the order :func:`summary` reports them.
KINDS: tuple[str, ...] = (NHS_NUMBER, DATE_OF_BIRTH, POSTCODE, PHONE_NUMBER, EMAIL_ADDRESS)

_PLURALS = {
    NHS_NUMBER: "NHS numbers",
    DATE_OF_BIRTH: "dates of birth",
    POSTCODE: "postcodes",
    PHONE_NUMBER: "phone numbers",
    EMAIL_ADDRESS: "email addresses",
}

# When two candidates overlap, the lower number wins: an email address beats
# anything inside it, an NHS number beats the phone number the same digits
# could also be read as. Within one rank the longer match wins.
_PRIORITY = {EMAIL_ADDRESS: 0, NHS_NUMBER: 1, DATE_OF_BIRTH: 2, POSTCODE: 3, PHONE_NUMBER: 4}

_DIGITS = "0123456789"
_SPACE = "[ \u00a0]"  # a space inside an identifier: ordinary or no-break


@dataclass(frozen=True)
class Finding:
    """One possible identifier: its kind and where it sits in the checked text."""

    kind: str  # one of KINDS
    text: str  # the matched text exactly as it appears
    start: int  # text[start:end] == self.text
    end: int


# --------------------------------------------------------------------------
# Shared helpers


def _is_digit(char: str) -> bool:
    return char != "" and char in _DIGITS


def _isolated(text: str, start: int, end: int, joiners: str) -> bool:
    """True unless text[start:end] continues a longer run of digits.

    A run continues when the character just outside the match is a digit, or is
    one of ``joiners`` with a digit beyond it ("1-9434765919", "12/03/1985/2").
    """
    before, before2 = text[start - 1 : start], text[max(start - 2, 0) : max(start - 1, 0)]
    after, after2 = text[end : end + 1], text[end + 1 : end + 2]
    if _is_digit(before) or _is_digit(after):
        return False
    if before and before in joiners and _is_digit(before2):
        return False
    if after and after in joiners and _is_digit(after2):
        return False
    return True


class _Spans:
    """Spans of text, asked whether any of them overlaps a given span."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self._starts = [start for start, _ in ordered]
        self._max_ends: list[int] = []  # furthest end among spans[0..k]
        for _, end in ordered:
            self._max_ends.append(max(end, self._max_ends[-1]) if self._max_ends else end)

    def overlaps(self, start: int, end: int) -> bool:
        before_end = bisect.bisect_left(self._starts, end)  # spans that start before `end`
        return before_end > 0 and self._max_ends[before_end - 1] > start


# --------------------------------------------------------------------------
# NHS numbers

_NHS_RE = re.compile(r"(?<![0-9])(?:[0-9]{10}|[0-9]{3}(?P<sep>[ \u00a0-])[0-9]{3}(?P=sep)[0-9]{4})(?![0-9])")


def nhs_number_is_valid(number: str) -> bool:
    """True when ``number`` passes the NHS Modulus 11 check.

    Spaces and hyphens are ignored; what remains must be exactly ten ASCII
    digits. Multiply the first nine digits by 10, 9, ..., 2 and add them up;
    the check digit is ``11 - (total % 11)``, where 11 means 0 and 10 means the
    number can never be valid. The number is valid when the check digit equals
    the tenth digit.
    """
    digits = number.replace(" ", "").replace("\u00a0", "").replace("-", "")
    if len(digits) != 10 or any(d not in _DIGITS for d in digits):
        return False
    total = sum(int(d) * weight for d, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def _find_nhs_numbers(text: str) -> list[Finding]:
    """NHS numbers: ten digits that pass the Modulus 11 check.

    Written together ("9434765919") or as 3-3-4 groups split by the same single
    space or hyphen ("943 476 5919", "943-476-5919"). The digits must not carry
    on a longer number: no digit right next to them, and no digit beyond an
    adjacent ``. , / -`` (or, for the grouped form, beyond an adjacent copy of
    its separator, so "123 943 476 5919" is not taken as an NHS number).
    A ten-digit number that fails the check is not an NHS number.
    """
    found = []
    for match in _NHS_RE.finditer(text):
        joiners = ".,/-" + (match["sep"] or "")
        if _isolated(text, match.start(), match.end(), joiners) and nhs_number_is_valid(match[0]):
            found.append(Finding(NHS_NUMBER, match[0], match.start(), match.end()))
    return found


# --------------------------------------------------------------------------
# Dates of birth

#: A cue must end no more than this many characters before the date starts.
CUE_WINDOW = 20
#: Without a cue, a date is taken as a birth date when the person would now be at least this old.
MIN_AGE_WITHOUT_CUE = 10
#: ...and its year is no earlier than this.
MIN_YEAR_WITHOUT_CUE = 1900

_CUE_RE = re.compile(
    r"(?<![a-z])(?:d\.?[ \u00a0]?o\.?[ \u00a0]?b|date\s+of\s+birth|birth\s*date|birthday|born)(?![a-z])",
    re.IGNORECASE,
)

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3,
    "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7,
    "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")(?![a-z])\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"

_DATE_RES = (
    # 12/03/1985, 12-03-1985, 12.03.1985, 12/3/85 (day first, as written in the UK)
    re.compile(
        r"(?<![0-9])(?P<day>[0-9]{1,2})(?P<sep>[/.-])(?P<mon>[0-9]{1,2})(?P=sep)(?P<year>[0-9]{4}|[0-9]{2})(?![0-9])"
    ),
    # 1985-03-12
    re.compile(r"(?<![0-9])(?P<year>[0-9]{4})-(?P<mon>[0-9]{1,2})-(?P<day>[0-9]{1,2})(?![0-9])"),
    # 12 March 1985, 12th March 1985, 12th of March, 1985, 12 Mar. 1985, 12-Mar-1985
    re.compile(
        rf"(?<![0-9])(?P<day>[0-9]{{1,2}}){_ORDINAL}(?:{_SPACE}+of)?(?:{_SPACE}+|-){_MONTH}(?:,?{_SPACE}+|-)(?P<year>[0-9]{{4}})(?![0-9])",
        re.IGNORECASE,
    ),
    # March 12, 1985, March 12th 1985, Mar. 12 1985
    re.compile(
        rf"(?<![a-z]){_MONTH}{_SPACE}+(?P<day>[0-9]{{1,2}}){_ORDINAL}(?:,{_SPACE}*|{_SPACE}+)(?P<year>[0-9]{{4}})(?![0-9])",
        re.IGNORECASE,
    ),
)


def _has_cue(text: str, start: int) -> bool:
    """True when a birth cue ends within CUE_WINDOW characters before ``start``."""
    for cue in _CUE_RE.finditer(text, max(start - CUE_WINDOW - 20, 0), start):
        if start - cue.end() <= CUE_WINDOW:
            return True
    return False


def _age(born: datetime.date, today: datetime.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _calendar_date(year: str, month: int, day: int, today: datetime.date) -> datetime.date | None:
    """The real calendar date, or None. A two-digit year is put in the latest century that keeps it in the past."""
    if len(year) == 2:
        for century in (2000, 1900):
            try:
                candidate = datetime.date(century + int(year), month, day)
            except ValueError:
                continue
            if candidate <= today:
                return candidate
        return None
    try:
        return datetime.date(int(year), month, day)
    except ValueError:
        return None


def _full_dates(text: str, today: datetime.date) -> list[tuple[int, int, datetime.date, bool]]:
    """Every real calendar date written in full: (start, end, date, has_cue)."""
    dates = []
    for pattern in _DATE_RES:
        for match in pattern.finditer(text):
            start, end = match.span()
            if not _isolated(text, start, end, "./-"):
                continue
            month = int(match["mon"]) if "mon" in match.groupdict() else _MONTHS[match["month"].lower()]
            cue = _has_cue(text, start)
            if len(match["year"]) == 2 and not cue:
                continue
            when = _calendar_date(match["year"], month, int(match["day"]), today)
            if when is not None:
                dates.append((start, end, when, cue))
    return dates


def _find_dates_of_birth(
    text: str, dates: list[tuple[int, int, datetime.date, bool]], today: datetime.date
) -> list[Finding]:
    """Dates of birth: full dates (day, month and year) that look like a birth date.

    Formats: 12/03/1985, 12-03-1985, 12.03.1985 and 12/3/85 (day first; the
    two-digit year only after a cue), 1985-03-12, 12 March 1985, 12th March 1985,
    12th of March, 1985, 12 Mar 1985, March 12, 1985 (full or three-letter month
    names, and "Sept"). The date must exist in the calendar (31/02/1985 does not)
    and must not carry on a longer run of digits.

    A date counts when either

    * a cue - "DOB", "D.O.B", "date of birth", "birth date", "born" or
      "birthday", in any case - ends no more than CUE_WINDOW (20) characters
      before it ("born on 12 March 1985"); any real date then counts; or
    * without a cue, the date is in or after MIN_YEAR_WITHOUT_CUE (1900) and
      the person would be at least MIN_AGE_WITHOUT_CUE (10) years old on
      ``today``. Dates of events are usually recent, dates decades ago are most
      likely dates of birth.
    """
    found = []
    for start, end, when, cue in dates:
        if cue or (when.year >= MIN_YEAR_WITHOUT_CUE and _age(when, today) >= MIN_AGE_WITHOUT_CUE):
            found.append(Finding(DATE_OF_BIRTH, text[start:end], start, end))
    return found


# --------------------------------------------------------------------------
# Postcodes

_POSTCODE_RE = re.compile(
    rf"(?<![a-z0-9])(?:gir{_SPACE}?0aa|[a-z]{{1,2}}[0-9][a-z0-9]?{_SPACE}?[0-9][a-z]{{2}})(?![a-z0-9])",
    re.IGNORECASE,
)


def _find_postcodes(text: str) -> list[Finding]:
    """UK postcodes: outward code, an optional space, inward code; any case.

    Outward code A9, A99, A9A, AA9, AA99 or AA9A; inward code 9AA; plus the
    special GIR 0AA. Only the shape is checked, not which letters may stand in
    which position. No letter or digit may touch either end ("SW1A 1AA",
    "ls1 4ap" and "EC1A1BB" count; "XSW1A 1AA" and "SW1A 1AA2" do not).
    """
    return [Finding(POSTCODE, m[0], m.start(), m.end()) for m in _POSTCODE_RE.finditer(text)]


# --------------------------------------------------------------------------
# Phone numbers

# A run of digit groups joined by one space or hyphen; a bracketed group
# "(020)" or "(0)" may also touch its neighbours.
_PHONE_RUN_RE = re.compile(
    r"(?<![\w+])\+?(?:\(\+?[0-9]+\)|[0-9]+)(?:(?:[ \u00a0-]|(?<=\))|(?=\())(?:\([0-9]+\)|[0-9]+))*"
)
_PHONE_GROUP_RE = re.compile(r"\+?\(\+?[0-9]+\)|\+?[0-9]+")


def _uk_national_number(candidate: str) -> str | None:
    """The number as dialled inside the UK ("07700900123"), if it is a UK mobile or landline."""
    digits = "".join(c for c in candidate if c in _DIGITS)
    if candidate.lstrip("(").startswith("+"):
        if not digits.startswith("44"):
            return None
        national = digits[2:]
    elif digits.startswith("0044"):
        national = digits[4:]
    elif digits.startswith("0"):
        national = digits
    else:
        return None
    if not national.startswith("0"):
        national = "0" + national  # +44 7700... -> 07700...; +44 (0)20... already has it
    if len(national) < 2:
        return None
    if national[1] == "7":
        return national if len(national) == 11 else None
    if national[1] in "123":
        return national if len(national) in (10, 11) else None
    return None


def _find_phone_numbers(text: str, dates: list[tuple[int, int, datetime.date, bool]]) -> list[Finding]:
    """UK mobile and landline numbers.

    The digits are written in groups joined by single spaces or hyphens, with
    the area code optionally in brackets: "07700 900123", "07700-900-123",
    "+44 7700 900123", "+44 (0)20 7946 0958", "0044 7700 900123",
    "(020) 7946 0958", "0113 496 0000", "01632 960001". A number starts with 0,
    "+44", "0044" or a bracketed "(0...". After turning the +44/0044 prefix
    into a leading 0 (keeping a written "(0)" only once) it must be a mobile,
    07 and 11 digits in all, or a landline, 01, 02 or 03 and 10 or 11 digits.
    Freephone, premium-rate and other numbers are not flagged.

    A number is made of whole groups: "0123 4567 8901" (twelve digits) has no
    run of whole groups with the right length, so it is not a phone number.
    Neither is anything that overlaps a full date, nor a number with a letter
    or digit touching its end or a decimal point and digit after it.
    """
    date_spans = _Spans((start, end) for start, end, _, _ in dates)
    found: list[Finding] = []
    for run in _PHONE_RUN_RE.finditer(text):
        groups = [(run.start() + g.start(), run.start() + g.end()) for g in _PHONE_GROUP_RE.finditer(run[0])]
        counts = [sum(c in _DIGITS for c in text[start:end]) for start, end in groups]
        i = 0
        while i < len(groups):
            taken = None
            if text.startswith(("0", "+", "(0", "(+"), groups[i][0]):
                # Whole groups i..j, longest first. A UK number has 10 to 15
                # digits ("0044 (0)20 7946 0958"), so only those lengths are tried.
                last, digits = i, 0
                while last < len(groups) and digits + counts[last] <= 15:
                    digits += counts[last]
                    last += 1
                for j in range(last - 1, i - 1, -1):
                    if digits < 10:
                        break
                    digits -= counts[j]  # what groups i..j-1 hold, for the next turn
                    start, end = groups[i][0], groups[j][1]
                    candidate = text[start:end]
                    if (
                        _uk_national_number(candidate)
                        and not re.match(r"\w|[.,][0-9]", text[end : end + 2])
                        and not date_spans.overlaps(start, end)
                    ):
                        taken = j
                        found.append(Finding(PHONE_NUMBER, candidate, start, end))
                        break
            i = taken + 1 if taken is not None else i + 1
    return found


# --------------------------------------------------------------------------
# Email addresses

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9_-])"
)


def _find_email_addresses(text: str) -> list[Finding]:
    """Email addresses, pragmatically: local@domain.tld.

    The local part is ASCII letters, digits and ``. _ % + -``, starting with a
    letter or digit; the domain is one or more dot-separated labels of letters,
    digits and hyphens, ending in a top-level domain of two or more letters.
    It must not touch another address character at the start, or a letter,
    digit, underscore or hyphen at the end; a full stop ending the sentence is
    not taken ("jo@example.org." gives "jo@example.org").
    """
    return [Finding(EMAIL_ADDRESS, m[0], m.start(), m.end()) for m in _EMAIL_RE.finditer(text)]


# --------------------------------------------------------------------------
# Public interface


def find_identifiers(text: str, *, today: datetime.date | None = None) -> list[Finding]:
    """Every possible identifier in plain ``text``, sorted by start, none overlapping.

    ``today`` (default: ``clock.today()``) decides whether an uncued
    date is old enough to be a date of birth. When two candidates overlap the
    more specific kind is kept - email address, then NHS number, date of
    birth, postcode, phone number - and, within one kind, the longer match.

    Pass plain text, not HTML: use :func:`plain_text` first for rich text, and
    keep that plain text for :func:`highlight`, since the offsets refer to it.
    """
    if today is None:
        today = clock.today()
    dates = _full_dates(text, today)
    candidates = [
        *_find_email_addresses(text),
        *_find_nhs_numbers(text),
        *_find_dates_of_birth(text, dates, today),
        *_find_postcodes(text),
        *_find_phone_numbers(text, dates),
    ]
    candidates.sort(key=lambda f: (_PRIORITY[f.kind], f.start - f.end, f.start))
    kept: list[Finding] = []  # sorted by start, never overlapping
    starts: list[int] = []
    for candidate in candidates:
        at = bisect.bisect_left(starts, candidate.start)
        if at > 0 and kept[at - 1].end > candidate.start:
            continue
        if at < len(kept) and kept[at].start < candidate.end:
            continue
        kept.insert(at, candidate)
        starts.insert(at, candidate.start)
    return kept


def _escape_lines(text: str) -> str:
    """Escape ``text`` for HTML, with each line break (\\r\\n, \\r or \\n) as <br>."""
    return str(escape(text)).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def highlight(text: str, findings: list[Finding]) -> Markup:
    """``text`` as safe HTML with each finding marked for the worker to review.

    The whole text is HTML-escaped and line breaks become ``<br>``. Each finding
    becomes::

        <mark class="anonymity-flag" data-kind="NHS number">943 476 5919</mark><span
        class="nhsuk-u-visually-hidden"> (possible NHS number)</span>

    (without the line break), so a screen reader hears what was flagged.
    ``findings`` must come from :func:`find_identifiers` on this same text: a
    finding that overlaps another, falls outside the text or no longer matches
    it raises ValueError.
    """
    parts: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if not (position <= finding.start <= finding.end <= len(text)):
            raise ValueError(f"finding overlaps another or lies outside the text: {finding!r}")
        if text[finding.start : finding.end] != finding.text:
            raise ValueError(f"finding does not match the text at its offsets: {finding!r}")
        parts.append(_escape_lines(text[position : finding.start]))
        parts.append(
            Markup(
                '<mark class="anonymity-flag" data-kind="{kind}">{flagged}</mark>'
                '<span class="nhsuk-u-visually-hidden"> (possible {kind})</span>'
            ).format(kind=finding.kind, flagged=Markup(_escape_lines(finding.text)))
        )
        position = finding.end
    parts.append(_escape_lines(text[position:]))
    return Markup("".join(parts))


# Elements that start and end on a line of their own: 2 leaves a blank line
# between paragraphs, 1 only breaks the line.
_BLOCKS = {
    "p": 2, "h1": 2, "h2": 2, "h3": 2, "h4": 2, "h5": 2, "h6": 2,
    "ul": 2, "ol": 2, "dl": 2, "blockquote": 2, "pre": 2, "table": 2, "hr": 2,
    "figure": 2, "section": 2, "article": 2, "header": 2, "footer": 2, "aside": 2,
    "li": 1, "dt": 1, "dd": 1, "div": 1, "tr": 1, "caption": 1, "figcaption": 1,
}  # fmt: skip
_HIDDEN = {"script", "style", "template", "head", "title"}


class _TextExtractor(HTMLParser):
    """Collect the text a browser would show, with block elements as line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # data arrives decoded, as by html.unescape
        self.parts: list[str] = []
        self._owed = 0  # line breaks owed before the next text
        self._trailing = 0  # line breaks already at the end of the output
        self._hidden = 0
        self._pre = 0

    def _emit(self, chunk: str) -> None:
        if not chunk:
            return
        self.parts.append(chunk)
        body = chunk.rstrip("\n")
        self._trailing = self._trailing + len(chunk) if not body else len(chunk) - len(body)

    def _at_line_start(self) -> bool:
        return not self.parts or self._trailing > 0

    def _settle(self) -> None:
        """Write the line breaks a block owes, counting those already written."""
        if self._owed and self.parts:
            self._emit("\n" * max(self._owed - self._trailing, 0))
        self._owed = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self._settle()
            self._emit("\n")
        elif tag in _BLOCKS:
            self._owed = max(self._owed, _BLOCKS[tag])
        if tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self._owed = max(self._owed, _BLOCKS[tag])
        if tag == "pre":
            self._pre = max(self._pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        data = data.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
        if not self._pre:
            data = re.sub(r" *\n *", "\n", re.sub(r"[ \t\f]+", " ", data))
        if not data.strip(" \n") and (self._owed or self._at_line_start()):
            return  # whitespace between blocks, or at the start of a line
        self._settle()
        if self._at_line_start() and not self._pre:
            data = data.lstrip(" \n")
        self._emit(data)


def plain_text(html: str) -> str:
    """The readable text of sanitised rich-text HTML, for :func:`find_identifiers`.

    Tags are removed with :class:`html.parser.HTMLParser`; entities and
    character references are decoded as by :func:`html.unescape` (once: "&amp;lt;"
    gives "&lt;"). No-break spaces become ordinary spaces and runs of spaces
    and tabs one space (except inside ``<pre>``). A line break in the HTML
    source stays a line break - the app keeps what people typed in a textarea
    that way when their text also holds tags - but whitespace-only text
    between blocks is dropped, so pretty-printed HTML gives no stray lines.
    ``<br>`` is a line break; ``p``, headings, lists, ``blockquote``, ``pre`` and ``table`` are
    paragraphs with a blank line around them; ``li``, ``div``, ``tr``, ``dt``
    and ``dd`` start a new line. Runs of blank lines collapse to one, and
    spaces at line ends and line breaks at either end are removed. The content
    of ``script``, ``style`` and ``template`` is dropped. Attribute values
    (``href``, ``alt``, ``title``) are not part of the text.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = "".join(parser.parts).split("\n")
    text = "\n".join(line.rstrip(" ") for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def summary(findings: Iterable[Finding]) -> list[tuple[str, int]]:
    """How many findings of each kind: ``[(kind, count)]`` for kinds found.

    Kinds come in the order of :data:`KINDS` (NHS number, date of birth,
    postcode, phone number, email address); any other kind follows in the
    order first seen.
    """
    counts = Counter(f.kind for f in findings)
    ordered = [kind for kind in KINDS if kind in counts] + [kind for kind in counts if kind not in KINDS]
    return [(kind, counts[kind]) for kind in ordered]


def describe(kind: str, count: int) -> str:
    """A phrase for one summary entry: "1 possible NHS number", "2 possible dates of birth"."""
    noun = kind if count == 1 else _PLURALS.get(kind, kind + "s")
    return f"{count} possible {noun}"


# --------------------------------------------------------------------------
# The check every form and service calls on a free-text field


def findings_in(text: str | None, *, html: bool = False, today: datetime.date | None = None) -> list[Finding]:
    """Possible identifiers in one field's text (``html``: sanitised rich text, read as plain text)."""
    plain = plain_text(text or "") if html else (text or "")
    return find_identifiers(plain, today=today)


def counted(findings: Iterable[Finding]) -> str:
    """ "1 possible NHS number and 2 possible dates of birth": the kinds found, each counted once."""
    phrases = [describe(kind, n) for kind, n in summary(findings)]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def message_for(label: str, findings: list[Finding]) -> str:
    """What to tell the person: which field, what was found there (quoted, in the order the kinds are counted),
    and what to do."""
    rank = {kind: position for position, (kind, _count) in enumerate(summary(findings))}
    in_counted_order = sorted(findings, key=lambda f: rank[f.kind])  # stable: the text's order within a kind
    quoted = ", ".join(dict.fromkeys(f"“{f.text}”" for f in in_counted_order))
    return f"{label} contains {counted(findings)} ({quoted}): remove details that could identify a person you support"


class IdentifyingDetails(FieldError):
    """A free-text field holds what may identify a person supported; ``found`` says what.

    (Not ``findings``: that attribute is how a reflection's confirmable
    prompt check asks the form to show its "confirm" box, which cannot
    clear this refusal.)
    """

    def __init__(self, field: str, label: str, findings: list[Finding]):
        super().__init__(field, message_for(label, findings))
        self.label = label
        self.found = findings


def require_anonymous(
    field: str, label: str, text: str | None, *, html: bool = False, today: datetime.date | None = None
) -> None:
    """Refuse text that may identify someone: the one check for every free-text field people type.

    ``field`` is the form field the message belongs next to and ``label`` the
    name people see for it ("Title", "Comment").

    :raises IdentifyingDetails: naming the field and what was found in it.
    """
    findings = findings_in(text, html=html, today=today)
    if findings:
        raise IdentifyingDetails(field, label, findings)
