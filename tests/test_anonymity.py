"""Tests for the identifier checks run on reflections before they are shared."""

from __future__ import annotations

import datetime
import itertools
import random

import pytest
from markupsafe import Markup, escape

from portfolio.clock import today
from portfolio.evidence.anonymity import (
    DATE_OF_BIRTH,
    EMAIL_ADDRESS,
    KINDS,
    NHS_NUMBER,
    PHONE_NUMBER,
    POSTCODE,
    Finding,
    describe,
    find_identifiers,
    highlight,
    nhs_number_is_valid,
    plain_text,
    summary,
)

SCAN_DAY = datetime.date(2026, 11, 23)


def mod11_check_digit(nine_digits: str) -> int | None:
    """Reference Modulus 11 check digit, written out independently of the module."""
    weights = [10, 9, 8, 7, 6, 5, 4, 3, 2]
    total = sum(int(digit) * weight for digit, weight in zip(nine_digits, weights, strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def reference_valid(number: str) -> bool:
    return mod11_check_digit(number[:9]) == int(number[9])


def found(text: str, **kwargs) -> list[tuple[str, str]]:
    """(kind, text) pairs, after checking every finding's offsets point at its text."""
    findings = find_identifiers(text, **{"today": SCAN_DAY, **kwargs})
    for finding in findings:
        assert text[finding.start : finding.end] == finding.text
    return [(f.kind, f.text) for f in findings]


# --------------------------------------------------------------------------
# Modulus 11


def test_reference_check_digits_worked_by_hand():
    # 9434765919: 9*10+4*9+3*8+4*7+7*6+6*5+5*4+9*3+1*2 = 299; 299 % 11 = 2; 11 - 2 = 9
    assert sum(int(d) * w for d, w in zip("943476591", range(10, 1, -1), strict=True)) == 299
    assert mod11_check_digit("943476591") == 9
    # 4010232137: total 92; 92 % 11 = 4; 11 - 4 = 7
    assert mod11_check_digit("401023213") == 7
    # 9990001234: total 259; 259 % 11 = 6; 11 - 6 = 5, not 4
    assert mod11_check_digit("999000123") == 5


@pytest.mark.parametrize(
    ("number", "valid"),
    [("9434765919", True), ("4010232137", True), ("9990001234", False), ("9434765918", False)],
)
def test_known_examples_agree_with_the_reference(number, valid):
    assert reference_valid(number) is valid
    assert nhs_number_is_valid(number) is valid


def test_modulus_11_agrees_with_the_reference_on_many_numbers():
    rng = random.Random(20261123)
    numbers = [f"{rng.randrange(10**10):010d}" for _ in range(3000)]
    assert any(reference_valid(n) for n in numbers) and not all(reference_valid(n) for n in numbers)
    for number in numbers:
        assert nhs_number_is_valid(number) is reference_valid(number), number


def test_remainder_zero_gives_check_digit_zero_and_ten_is_never_valid():
    rng = random.Random(7)
    nines = (f"{rng.randrange(10**9):09d}" for _ in range(10000))
    zero = next(n for n in nines if sum(int(d) * w for d, w in zip(n, range(10, 1, -1), strict=True)) % 11 == 0)
    never = next(n for n in nines if mod11_check_digit(n) is None)
    assert nhs_number_is_valid(zero + "0")
    assert not any(nhs_number_is_valid(never + str(last)) for last in range(10))


def test_validity_ignores_separators_but_needs_ten_digits():
    assert nhs_number_is_valid("943 476 5919")
    assert nhs_number_is_valid("943-476-5919")
    assert not nhs_number_is_valid("943476591")
    assert not nhs_number_is_valid("94347659190")
    assert not nhs_number_is_valid("943476591x")


# --------------------------------------------------------------------------
# NHS numbers


@pytest.mark.parametrize(
    "sentence, number",
    [
        ("Her NHS number is 9434765919 on the referral.", "9434765919"),
        ("NHS no. 943 476 5919.", "943 476 5919"),
        ("NHS: 943-476-5919, checked with the GP", "943-476-5919"),
        ("(4010232137)", "4010232137"),
        ("4010232137", "4010232137"),
    ],
)
def test_nhs_numbers_are_found(sentence, number):
    assert reference_valid(number.replace(" ", "").replace("-", ""))
    assert found(sentence) == [(NHS_NUMBER, number)]


def test_nhs_number_offsets():
    text = "Referral for 943 476 5919 received."
    [finding] = find_identifiers(text, today=SCAN_DAY)
    assert finding == Finding(NHS_NUMBER, "943 476 5919", 13, 25)


@pytest.mark.parametrize(
    "text",
    [
        "Reference 9434765918 on the letter.",  # fails modulus 11
        "Reference 9990001234 on the letter.",  # fails modulus 11
        "Order 943476591912 shipped",  # valid number inside a longer digit run
        "Order 19434765919 shipped",
        "Code 1-9434765919 or 9434765919.5",
        "943 476-5919",  # mixed separators
        "943  476  5919",  # double spaces
        "123 943 476 5919",  # a fourth group in front
    ],
)
def test_nhs_near_misses_are_not_nhs_numbers(text):
    assert NHS_NUMBER not in [kind for kind, _ in found(text)]


def test_ten_digits_failing_modulus_11_can_still_be_a_phone_number():
    assert not reference_valid("0113496000")
    assert found("Ring 0113496000 tomorrow") == [(PHONE_NUMBER, "0113496000")]


# --------------------------------------------------------------------------
# Dates of birth


@pytest.mark.parametrize(
    "sentence, date",
    [
        ("DOB 12/03/1985 per the referral", "12/03/1985"),
        ("D.O.B: 12-03-1985", "12-03-1985"),
        ("d.o.b. 12.03.1985", "12.03.1985"),
        ("Date of birth: 12/3/85.", "12/3/85"),
        ("She was born on 12 March 1985 in Leeds", "12 March 1985"),
        ("born on the 12th March 1985", "12th March 1985"),
        ("Born 12th of March, 1985", "12th of March, 1985"),
        ("birthday: March 12, 1985", "March 12, 1985"),
        ("BIRTHDAY is mar 12th 1985", "mar 12th 1985"),
        ("DOB 1985-03-12", "1985-03-12"),
        ("born 12 Sept 1985", "12 Sept 1985"),
    ],
)
def test_cued_dates_of_birth_are_found(sentence, date):
    assert found(sentence) == [(DATE_OF_BIRTH, date)]


@pytest.mark.parametrize(
    "sentence, date",
    [
        ("We met; he mentioned 12/03/1985 as the date.", "12/03/1985"),
        ("On 3 January 1962 something happened", "3 January 1962"),
        ("Back in 1990-07-01 it started", "1990-07-01"),
        ("Since 23/11/2016 exactly", "23/11/2016"),  # exactly ten years before SCAN_DAY
    ],
)
def test_old_dates_without_a_cue_are_found(sentence, date):
    assert found(sentence) == [(DATE_OF_BIRTH, date)]


def test_a_recent_date_counts_only_with_a_cue():
    assert found("Session on 05/06/2025 went well") == []
    assert found("Baby born 05/06/2025, mum attending") == [(DATE_OF_BIRTH, "05/06/2025")]
    assert found("Since 24/11/2016 exactly") == []  # one day short of ten years


def test_cue_must_be_close_to_the_date():
    assert found("DOB noted elsewhere in the file; next review 05/06/2025") == []
    assert found("DOB recorded as:     05/06/2025") == [(DATE_OF_BIRTH, "05/06/2025")]


def test_cue_must_be_a_whole_word():
    assert found("Mr Dobson visited on 05/06/2025") == []
    assert found("Unborn child due 05/06/2027") == []


def test_today_defaults_to_the_service_clock():
    assert [f.text for f in find_identifiers("On 12/03/1985 it began")] == ["12/03/1985"]
    recent = today() - datetime.timedelta(days=30)
    assert find_identifiers(f"On {recent:%d/%m/%Y} it began") == []


@pytest.mark.parametrize(
    "text",
    [
        "Room 12 at 3pm",
        "the year 2019",
        "a date of event 03/11/2026",
        "DOB 31/02/1985",  # not a real date
        "born 29/02/1985",  # 1985 was not a leap year
        "Seen 12/3/85 last time",  # two-digit year without a cue
        "In 12/03/1850",  # before 1900 without a cue
        "version 1.2.3",
        "Section 12/03/19855",
        "March 2019 and 12 March",
    ],
)
def test_date_near_misses(text):
    assert found(text) == []


def test_leap_day_is_a_real_date():
    assert found("DOB 29/02/1988") == [(DATE_OF_BIRTH, "29/02/1988")]


def test_two_digit_years_take_the_latest_century_in_the_past():
    assert found("born 29/02/00") == [(DATE_OF_BIRTH, "29/02/00")]  # 2000 was a leap year
    assert found("born 29/02/28") == [(DATE_OF_BIRTH, "29/02/28")]  # 2028 is to come; 1928 was a leap year
    assert found("born 29/02/30") == []  # 2030 is to come; 1930 was not a leap year


# --------------------------------------------------------------------------
# Postcodes


@pytest.mark.parametrize(
    "postcode",
    ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "ls1 4ap", "EC1A1BB", "W1A 0AX", "GIR 0AA"],
)
def test_postcodes_are_found(postcode):
    sentence = f"She lives near {postcode}, by the park."
    assert found(sentence) == [(POSTCODE, postcode)]
    start = sentence.index(postcode)
    assert find_identifiers(sentence, today=SCAN_DAY)[0] == Finding(POSTCODE, postcode, start, start + len(postcode))


@pytest.mark.parametrize("text", ["ABC 123", "Postcode SW1A 1AAB", "XSW1A 1AA", "SW1A 1A", "Flat 1 12 AB", "ABC1 1AA"])
def test_postcode_near_misses(text):
    assert found(text) == []


# --------------------------------------------------------------------------
# Phone numbers


@pytest.mark.parametrize(
    "number",
    [
        "07700 900123",
        "07700900123",
        "07700-900-123",
        "+44 7700 900123",
        "+447700900123",
        "+44 (0) 7700 900123",
        "0044 7700 900123",
        "(020) 7946 0958",
        "020 7946 0958",
        "+44 (0)20 7946 0958",
        "0113 496 0000",
        "(0113) 496 0000",
        "01632 960001",
        "0300 123 4567",
    ],
)
def test_phone_numbers_are_found(number):
    sentence = f"Call her on {number} after 5."
    [finding] = find_identifiers(sentence, today=SCAN_DAY)
    start = sentence.index(number)
    assert finding == Finding(PHONE_NUMBER, number, start, start + len(number))


@pytest.mark.parametrize(
    "text",
    [
        "Order 074123456789 dispatched",  # twelve digits: a longer number
        "Order 0123 4567 8901 dispatched",  # no run of whole groups has the right length
        "Card 4929 0123 4567 8901",
        "Call 0800 123 4567 free",  # freephone is not personal
        "Mobile 07700 90012",  # one digit short
        "Price £1,234.56",
        "Ref 07700900123X",
        "Seen 07-11-2019 1234",  # a date followed by more digits is not a phone number
    ],
)
def test_phone_near_misses(text):
    assert PHONE_NUMBER not in [kind for kind, _ in found(text)]


def test_phone_number_is_made_of_whole_groups():
    assert found("text 07700 900123 2019") == [(PHONE_NUMBER, "07700 900123")]
    assert found("two: 07700 900123 07700 900456") == [(PHONE_NUMBER, "07700 900123"), (PHONE_NUMBER, "07700 900456")]


# --------------------------------------------------------------------------
# Email addresses


@pytest.mark.parametrize(
    "sentence, address",
    [
        ("Email jo.bloggs@example.com about it.", "jo.bloggs@example.com"),
        ("(jo_b+support@mail.example.co.uk)", "jo_b+support@mail.example.co.uk"),
        ("Contact: JO@NHS.NET", "JO@NHS.NET"),
        ("<jo-b@my-gp.org.uk>", "jo-b@my-gp.org.uk"),
    ],
)
def test_email_addresses_are_found(sentence, address):
    start = sentence.index(address)
    assert find_identifiers(sentence, today=SCAN_DAY) == [Finding(EMAIL_ADDRESS, address, start, start + len(address))]


@pytest.mark.parametrize(
    "text", ["jo@localhost", "@jobloggs on social media", "jo@example", "jo@example.c", "a @ b.com"]
)
def test_email_near_misses(text):
    assert found(text) == []


# --------------------------------------------------------------------------
# Overlaps and general properties


def test_nhs_number_wins_over_the_phone_number_it_could_also_be():
    assert reference_valid("0113496001")
    assert found("Number 0113496001 given") == [(NHS_NUMBER, "0113496001")]
    assert found("Number 011 349 6001 given") == [(NHS_NUMBER, "011 349 6001")]


def test_email_wins_over_anything_inside_it():
    assert found("mail 9434765919@example.com") == [(EMAIL_ADDRESS, "9434765919@example.com")]
    assert found("mail 07700900123@sms.example.com") == [(EMAIL_ADDRESS, "07700900123@sms.example.com")]
    assert found("mail ls14ap@example.com") == [(EMAIL_ADDRESS, "ls14ap@example.com")]
    assert found("mail jo.9434765919@example.co.uk") == [(EMAIL_ADDRESS, "jo.9434765919@example.co.uk")]


def test_mixed_text_is_sorted_without_overlaps():
    text = (
        "Met J (DOB 12/03/1985, NHS 943 476 5919) at LS1 4AP.\n"
        "Her daughter's mobile is 07700 900123; email jo@example.org.\n"
        "Room 12 at 3pm, £1,234.56, version 1.2.3."
    )
    findings = find_identifiers(text, today=SCAN_DAY)
    assert [(f.kind, f.text) for f in findings] == [
        (DATE_OF_BIRTH, "12/03/1985"),
        (NHS_NUMBER, "943 476 5919"),
        (POSTCODE, "LS1 4AP"),
        (PHONE_NUMBER, "07700 900123"),
        (EMAIL_ADDRESS, "jo@example.org"),
    ]
    for earlier, later in itertools.pairwise(findings):
        assert earlier.end <= later.start
    assert all(text[f.start : f.end] == f.text for f in findings)


def test_plain_prose_has_no_findings():
    assert find_identifiers("", today=SCAN_DAY) == []
    assert found("We talked about walking groups and the allotment at 10am on Tuesday.") == []


def test_finding_is_frozen():
    finding = Finding(POSTCODE, "M1 1AE", 0, 6)
    with pytest.raises(AttributeError):
        finding.kind = EMAIL_ADDRESS  # type: ignore[misc]


# --------------------------------------------------------------------------
# highlight


def test_highlight_wraps_exactly_the_findings_and_escapes_the_rest():
    text = 'Said <script>alert("x")</script> & gave 9434765919 and M1 1AE.'
    result = highlight(text, find_identifiers(text, today=SCAN_DAY))
    assert isinstance(result, Markup)
    assert str(result) == (
        "Said &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; gave "
        '<mark class="anonymity-flag" data-kind="NHS number">9434765919</mark>'
        '<span class="nhsuk-u-visually-hidden"> (possible NHS number)</span>'
        " and "
        '<mark class="anonymity-flag" data-kind="postcode">M1 1AE</mark>'
        '<span class="nhsuk-u-visually-hidden"> (possible postcode)</span>.'
    )
    assert "<script>" not in result
    assert str(escape(result)) == str(result)  # Markup: not escaped again in a template


def test_highlight_turns_line_breaks_into_br():
    text = "First line\nSecond 07700 900123\r\nThird\rFourth"
    result = str(highlight(text, find_identifiers(text, today=SCAN_DAY)))
    assert result.startswith("First line<br>Second <mark")
    assert result.endswith("</span><br>Third<br>Fourth")
    assert "\n" not in result and "\r" not in result


def test_highlight_without_findings_is_the_escaped_text():
    assert highlight("a < b\nc", []) == Markup("a &lt; b<br>c")


def test_highlight_accepts_findings_in_any_order():
    text = "M1 1AE then B33 8TH"
    findings = find_identifiers(text, today=SCAN_DAY)
    assert highlight(text, list(reversed(findings))) == highlight(text, findings)
    assert str(highlight(text, findings)).count("<mark ") == 2


@pytest.mark.parametrize(
    "finding",
    [
        Finding(POSTCODE, "M1 1AE", 1, 7),  # does not match the text there
        Finding(POSTCODE, "M1 1AE", 0, 60),  # past the end
    ],
)
def test_highlight_rejects_findings_that_do_not_fit_the_text(finding):
    with pytest.raises(ValueError):
        highlight("M1 1AE is the postcode", [finding])


def test_highlight_rejects_overlapping_findings():
    text = "M1 1AE"
    with pytest.raises(ValueError):
        highlight(text, [Finding(POSTCODE, "M1 1AE", 0, 6), Finding(POSTCODE, "1 1AE", 1, 6)])


# --------------------------------------------------------------------------
# plain_text


def test_plain_text_of_rich_text():
    html = (
        "<h2>Reflection</h2>"
        "<p>Met <strong>J</strong> &amp; her son &lt;10&gt; at the caf&eacute;.</p>"
        "<ul><li>Walking group</li><li>Citizen&#39;s Advice</li></ul>"
        "<p>First line<br>second line<br/>third</p>"
        "<p></p><p>&nbsp;</p><p></p>"
        "<p>End</p>"
    )
    assert plain_text(html) == (
        "Reflection\n\n"
        "Met J & her son <10> at the café.\n\n"
        "Walking group\n"
        "Citizen's Advice\n\n"
        "First line\nsecond line\nthird\n\n"
        "End"
    )


def test_plain_text_decodes_entities_once_and_keeps_them_as_text():
    assert plain_text("<p>&amp;lt;script&amp;gt; and &lt;b&gt;bold&lt;/b&gt;</p>") == "&lt;script&gt; and <b>bold</b>"


def test_plain_text_tidies_whitespace():
    html = "<p>\n  Some \t  text\n  over lines\n</p>\n\n<div>next</div>\n<div>and&nbsp;more</div>"
    assert plain_text(html) == "Some text\nover lines\n\nnext\nand more"
    pretty = "<ul>\n  <li>One</li>\n  <li>Two</li>\n</ul>\n<p>\n  After\n</p>\n"
    assert plain_text(pretty) == "One\nTwo\n\nAfter"
    assert plain_text("<li>\nOne\n</li><li>\nTwo\n</li>") == "One\nTwo"
    assert plain_text("a<br>\nb<br><br>c<br><br><br><br>d") == "a\nb\n\nc\n\nd"
    assert plain_text("<h3>Title</h3><blockquote>Quote</blockquote><h4>Sub</h4><ol><li>x</li></ol>") == (
        "Title\n\nQuote\n\nSub\n\nx"
    )


def test_plain_text_keeps_line_breaks_typed_around_tags():
    # richtext.from_user stores typed text that contains a tag as it is, newlines and all
    html = 'Met J, DOB 12/03/1985.\r\nPhone <em>later</em>\n\n\n\nSee <a href="https://example.org">notes</a>'
    assert plain_text(html) == "Met J, DOB 12/03/1985.\nPhone later\n\nSee notes"


def test_plain_text_keeps_preformatted_text_and_drops_scripts():
    assert plain_text("<pre>a\n  b</pre><script>var x = 1;</script><style>p{}</style>") == "a\n  b"


def test_plain_text_of_plain_text_and_empty_input():
    assert plain_text("") == ""
    assert plain_text("No markup, 2 < 3") == "No markup, 2 < 3"


def test_plain_text_then_find_then_highlight():
    html = "<p>Spoke to R (NHS&nbsp;943&nbsp;476&nbsp;5919).</p><ul><li>Mobile: 07700&nbsp;900123</li></ul>"
    text = plain_text(html)
    assert text == "Spoke to R (NHS 943 476 5919).\n\nMobile: 07700 900123"
    findings = find_identifiers(text, today=SCAN_DAY)
    assert [(f.kind, f.text) for f in findings] == [(NHS_NUMBER, "943 476 5919"), (PHONE_NUMBER, "07700 900123")]
    assert "<br><br>Mobile: <mark" in str(highlight(text, findings))


def test_non_breaking_spaces_are_allowed_inside_identifiers():
    assert found("NHS 943\u00a0476\u00a05919 at SW1A\u00a01AA") == [
        (NHS_NUMBER, "943\u00a0476\u00a05919"),
        (POSTCODE, "SW1A\u00a01AA"),
    ]


# --------------------------------------------------------------------------
# summary


def test_summary_counts_in_a_stable_order():
    text = "jo@example.org, M1 1AE, 9434765919, B33 8TH, 4010232137, 07700 900123"
    assert summary(find_identifiers(text, today=SCAN_DAY)) == [
        (NHS_NUMBER, 2),
        (POSTCODE, 2),
        (PHONE_NUMBER, 1),
        (EMAIL_ADDRESS, 1),
    ]


def test_summary_of_nothing_and_of_any_iterable():
    assert summary([]) == []
    findings = (f for f in [Finding(POSTCODE, "M1 1AE", 0, 6), Finding(DATE_OF_BIRTH, "1/1/1980", 7, 15)])
    assert summary(findings) == [(DATE_OF_BIRTH, 1), (POSTCODE, 1)]


def test_kinds_and_their_descriptions():
    assert KINDS == ("NHS number", "date of birth", "postcode", "phone number", "email address")
    assert describe(NHS_NUMBER, 2) == "2 possible NHS numbers"
    assert describe(NHS_NUMBER, 1) == "1 possible NHS number"
    assert describe(DATE_OF_BIRTH, 3) == "3 possible dates of birth"
    assert describe(EMAIL_ADDRESS, 2) == "2 possible email addresses"
    assert describe(POSTCODE, 2) == "2 possible postcodes"
    assert describe(PHONE_NUMBER, 2) == "2 possible phone numbers"
