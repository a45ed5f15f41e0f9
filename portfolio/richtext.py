"""Rich text from users: cleaned with nh3 on the way in, shown with ``|safe`` only after that.

People type into a plain textarea. Plain text becomes paragraphs; basic HTML
(pasted from a document, say) keeps its formatting but nothing that runs
and nothing hidden: no scripts, no attributes (so no event, ``hx-*`` or
``data-*`` attributes), no links, no SVG.
"""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

# No links and no attributes at all: everything kept is visible text, so the
# anonymity check (which reads the text) sees all of it; a mailto: address in
# an href would otherwise slip past it.
ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "blockquote", "h3", "h4"}

# What counts as markup: the element names of HTML (ammonia's own list, and what a paste or an attack brings
# that it removes), and Word's namespaced ones (<o:p>). Any other word in angle brackets ("we agreed steps
# <together>") is text a person typed, kept as text: nh3 would remove it as an unknown tag, without a word.
_ELEMENTS = frozenset(nh3.ALLOWED_TAGS) | {
    *("html", "head", "body", "meta", "link", "title", "base", "main", "section", "template", "font", "label"),
    *("script", "noscript", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math"),
    *("form", "input", "button", "select", "option", "textarea", "xml"),
}
_TAG = re.compile(r"<\s*/?\s*([a-zA-Z][\w:-]*)[^>]*>")
# "<!--", "<!DOCTYPE" and "<?xml" are left to the sanitiser, which removes them (a Word paste has them).
_BRACKET = re.compile(r"<(?![!?])(?=\s*/?\s*([a-zA-Z][\w:-]*))|<(?![!?])")


def _is_element(name: str | None) -> bool:
    return name is not None and (name.lower() in _ELEMENTS or ":" in name)


def _has_markup(text: str) -> bool:
    return any(_is_element(match.group(1)) for match in _TAG.finditer(text))


def _brackets_as_text(html: str) -> str:
    """``html`` with each "<" that opens no HTML element written as text (&lt;), so that cleaning keeps it."""
    return _BRACKET.sub(lambda match: "<" if _is_element(match.group(1)) else "&lt;", html)


_BLOCK_TAG = re.compile(r"<\s*/?\s*(p|br|ul|ol|li|h3|h4|blockquote|div)\b", re.I)
_SIMPLE_PARAGRAPHS = re.compile(r"^(<p>.*?</p>\s*)+$", re.S)


# Markup that runs or talks to the server: refused with a message rather
# than quietly removed, so nobody thinks their text was kept as typed.
_CODE = re.compile(
    r"<\s*(script|svg|iframe|object|embed|style|math|form)\b"  # elements that run or submit
    r"|\son[a-z]+\s*="  # event handlers
    r"|\s(data-)?hx-[\w:-]+"  # htmx attributes
    r"|javascript\s*:",
    re.I,
)
CODE_MESSAGE = "Remove the code from this text: scripts, event handlers and hx- attributes are not allowed"


def has_code(text: str | None) -> bool:
    """True when typed or pasted text carries markup that runs (script, on* or hx-* attributes...)."""
    return bool(_CODE.search(text or ""))


def clean(html: str) -> str:
    """Sanitise HTML to the small set of tags a reflection needs."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={},
        link_rel=None,
        strip_comments=True,
    ).strip()


def from_user(text: str | None) -> str:
    """What a user typed, as clean HTML: plain text becomes paragraphs; HTML is sanitised."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        return ""
    if not _BLOCK_TAG.search(text):
        # Typed text (perhaps with <b> or <em>): blank lines make paragraphs.
        # Plain text is escaped; inline HTML is left for nh3 to clean.
        keep = (lambda line: line) if _has_markup(text) else escape
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        text = "".join(f"<p>{'<br>'.join(str(keep(line)) for line in p.split(chr(10)))}</p>" for p in paragraphs)
    return clean(_brackets_as_text(text))


def to_editable(html: str | None) -> str:
    """Stored HTML as the user should see it in the textarea again.

    Plain paragraphs go back to plain text; anything with more formatting is
    shown as its (already clean) HTML so that nothing is lost on saving.
    """
    html = (html or "").strip()
    if not html:
        return ""
    if _SIMPLE_PARAGRAPHS.match(html) and not re.search(r"<(?!/?p>|br>)", html):
        paragraphs = re.findall(r"<p>(.*?)</p>", html, re.S)
        text = "\n\n".join(p.replace("<br>", "\n") for p in paragraphs)
        return Markup(text).unescape()
    return html


def is_blank(html: str | None) -> bool:
    """True when the HTML has no visible text."""
    return not nh3.clean(html or "", tags=set()).strip()
