"""Rich text is cleaned with nh3 on the way in: formatting stays, nothing runs or hides."""

import pytest

from portfolio import richtext


@pytest.mark.parametrize(
    "dirty",
    [
        '<p onclick="steal()">x</p>',
        '<p hx-get="/auth/sign-out" hx-trigger="load">x</p>',
        '<p data-hx-post="/x">x</p>',
        '<a href="javascript:alert(1)">x</a>',
        "<svg><script>alert(1)</script></svg>x",
        '<img src="x" onerror="alert(1)">x',
        '<iframe src="https://evil.example"></iframe>x',
        '<p style="background:url(javascript:alert(1))">x</p>',
        '<a href="mailto:someone@example.org">x</a>',
    ],
)
def test_nothing_that_runs_or_hides_survives(dirty):
    clean = richtext.from_user(dirty)
    for forbidden in (
        "onclick",
        "hx-",
        "data-",
        "javascript:",
        "<svg",
        "<script",
        "<img",
        "<iframe",
        "style=",
        "href",
        "mailto",
    ):
        assert forbidden not in clean
    assert "x" in clean


def test_plain_text_becomes_paragraphs_and_is_escaped():
    assert richtext.from_user("Line one\nLine two\n\nSecond & 3 < 4") == (
        "<p>Line one<br>Line two</p><p>Second &amp; 3 &lt; 4</p>"
    )


def test_formatting_is_kept():
    html = richtext.from_user("<p>I <strong>listened</strong></p><ul><li>first</li><li><em>second</em></li></ul>")
    assert html == "<p>I <strong>listened</strong></p><ul><li>first</li><li><em>second</em></li></ul>"


def test_inline_formatting_in_typed_text_keeps_its_paragraphs():
    assert richtext.from_user("One <b>bold</b>\n\nTwo") == "<p>One <b>bold</b></p><p>Two</p>"


@pytest.mark.parametrize(
    "typed, stored, edited",
    [
        ("we agreed steps <together>.", "<p>we agreed steps &lt;together&gt;.</p>", "we agreed steps <together>."),
        ("<p>a <together> b</p>", "<p>a &lt;together&gt; b</p>", "a <together> b"),
        ("<b>Bold</b> and <not a tag>", "<p><b>Bold</b> and &lt;not a tag&gt;</p>", None),
        ("x<b and y", "<p>x&lt;b and y</p>", "x<b and y"),
        ("<<together>>", "<p>&lt;&lt;together&gt;&gt;</p>", "<<together>>"),
        ("<p>Pasted from Word<o:p></o:p></p>", "<p>Pasted from Word</p>", "Pasted from Word"),
        ("<!-- Word's own note --><p>Text</p>", "<p>Text</p>", "Text"),  # comments still removed
        ('<?xml version="1.0"?><p>Text</p>', "<p>Text</p>", "Text"),
    ],
)
def test_words_in_angle_brackets_are_kept_as_text(typed, stored, edited):
    """Only HTML's own elements are markup: "<together>" is something a person wrote, not a tag to drop."""
    assert richtext.from_user(typed) == stored
    if edited is not None:
        assert richtext.to_editable(stored) == edited
        assert richtext.from_user(edited) == stored  # saved again unchanged


def test_blank_input():
    assert richtext.from_user("   ") == ""
    assert richtext.is_blank(richtext.from_user("<script>alert(1)</script>"))
    assert not richtext.is_blank("<p>Text</p>")


def test_plain_paragraphs_go_back_to_plain_text_for_editing():
    html = richtext.from_user("Line one\nLine two\n\nSecond & third")
    assert richtext.to_editable(html) == "Line one\nLine two\n\nSecond & third"
    formatted = "<p>I <strong>listened</strong></p>"
    assert richtext.to_editable(formatted) == formatted


def test_the_user_html_filter_prints_clean_html_as_html_once(app):
    """In a template, what a user typed shows formatted: its tags are not printed as text, nothing runs."""
    template = app.jinja_env.from_string("{{ typed | user_html }}")
    with app.test_request_context():
        assert template.render(typed="Met <b>Ann</b> & Bo") == "<p>Met <b>Ann</b> &amp; Bo</p>"
        assert template.render(typed='x<script>alert(1)</script><img src="y" onerror="z()">') == "<p>x</p>"
