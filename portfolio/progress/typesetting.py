"""Print type for the panel PDF: fonts for any alphabet, a running header, "Page 3 of 12", ragged-right paragraphs.

The fonts are Noto Sans (Latin with every accent, Greek, Cyrillic,
Vietnamese), Noto Sans Arabic and Noto Sans Hans (Simplified Chinese), under
the SIL Open Font License. ``make setup`` copies them from the pinned npm
packages in package.json into ``fonts/`` (see the Makefile). Noto Sans is
always embedded; the Arabic and Chinese fonts are added only when a
document holds a character that needs them (the Chinese one is 8 MB: adding
it to every document would cost every document), and only Arabic (and other
right-to-left) text goes through HarfBuzz, which joins its letters and sets
the line right to left.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

from .. import PROJECT_ROOT
from ..templating import long_date as pages_long_date

FAMILY = "noto"
# family -> {style: file}: the text font first, then its fallbacks in the order they are tried.
FONTS: dict[str, dict[str, str]] = {
    FAMILY: {"": "NotoSans_400Regular.ttf", "B": "NotoSans_700Bold.ttf"},
    "noto-arabic": {"": "NotoSansArabic_400Regular.ttf", "B": "NotoSansArabic_700Bold.ttf"},
    "noto-hans": {"": "NotoSansHans-Regular.otf"},  # no bold: bold Chinese is set in the regular weight
}
RIGHT_TO_LEFT = {"R", "AL"}
NBSP = "\u00a0"
LINE = 1.45  # line height, as a multiple of the font size
GREY = (80, 80, 80)


class FontsMissing(RuntimeError):
    """The PDF fonts are not where `make setup` puts them."""


def font_folder() -> Path:
    """Where `make setup` copies the font files (beside templates/ and static/, like them)."""
    return PROJECT_ROOT / "fonts"


@cache
def _coverage(path: Path) -> frozenset[str]:
    """The characters a font file has glyphs for (read once per process)."""
    font = TTFont(path, lazy=True)
    try:
        return frozenset(chr(code) for code in font.getBestCmap())
    finally:
        font.close()


def long_date(day: date | datetime | None) -> str:
    """ "6 May 2025" as pages say it (a moment on the service's clock: templating.long_date), held together on one
    line."""
    return pages_long_date(day).replace(" ", NBSP)


def on(day: date | datetime | None) -> str:
    """ "on 6 May 2025", held together so that a date never starts a line alone."""
    return f"on{NBSP}{long_date(day)}"


def _right_to_left(text: str) -> bool:
    """Whether ``text`` holds a letter of a right-to-left script (Arabic, Hebrew...)."""
    return any(unicodedata.bidirectional(char) in RIGHT_TO_LEFT for char in text if not char.isascii())


class Document(FPDF):
    """An A4 document in Noto Sans with a running header and "Page n of N" at the foot of every page."""

    def __init__(self, title: str, running_header: str):
        super().__init__(format="A4")
        self.folder = font_folder()
        missing = [name for files in FONTS.values() for name in files.values() if not (self.folder / name).is_file()]
        if missing:
            raise FontsMissing(f"The PDF fonts {', '.join(missing)} are not in {self.folder}: run `make setup`")
        for style, name in FONTS[FAMILY].items():
            self.add_font(FAMILY, style, self.folder / name)
        self.plain = _coverage(self.folder / FONTS[FAMILY][""])
        self.fallbacks: list[str] = []
        self.set_margins(20, 22, 20)
        self.set_auto_page_break(True, margin=18)
        self.set_title(title)
        self.set_creator("Evidence portfolio")
        self.running_header = running_header
        self.prepare(running_header)
        self._char_widths: dict[tuple, dict[str, float]] = {}

    # --- Fonts ---------------------------------------------------------------------------

    def prepare(self, text: str) -> bool:
        """Make ready the fonts ``text`` needs; True when Noto Sans alone sets it (then it is measured quickly)."""
        if text.isascii():
            return True
        missing = set(text) - self.plain
        if not missing:
            return True
        for family, files in list(FONTS.items())[1:]:
            if family not in self.fallbacks and missing & _coverage(self.folder / files[""]):
                for style, name in files.items():
                    self.add_font(family, style, self.folder / name)
                self.fallbacks.append(family)
                self.set_fallback_fonts(self.fallbacks, exact_match=False)
        return False

    @contextmanager
    def shaped(self, text: str) -> Iterator[str]:
        """Right-to-left text through HarfBuzz (joined letters, right-to-left order); yields the alignment.

        A line with any left-to-right letter is an English line with a name or
        words in it (its words still run right to left within it); only a line
        wholly in a right-to-left script is set right to left, from the right.
        """
        if not _right_to_left(text):
            yield "L"
            return
        english = any(unicodedata.bidirectional(char) == "L" for char in text)
        self.set_text_shaping(True, direction="ltr" if english else "rtl")
        try:
            yield "L" if english else "R"
        finally:
            self.set_text_shaping(False)

    # --- Page furniture ------------------------------------------------------------------

    def header(self):
        self.set_font(FAMILY, size=8)
        self.set_text_color(*GREY)
        self.set_xy(self.l_margin, 10)
        with self.shaped(self.running_header) as align:
            self.cell(self.epw, 5, self.running_header, align=align)
        self.line(self.l_margin, 16, self.w - self.r_margin, 16)
        self.set_text_color(0, 0, 0)
        self.set_xy(self.l_margin, self.t_margin)

    def footer(self):
        self.set_y(-12)
        self.set_font(FAMILY, size=8)
        self.set_text_color(*GREY)
        self.cell(self.epw, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    # --- Text ----------------------------------------------------------------------------

    @contextmanager
    def indented(self, by: float) -> Iterator[None]:
        """Everything written inside starts ``by`` mm further in (lists under a heading)."""
        self.set_left_margin(self.l_margin + by)
        self.set_x(self.l_margin)
        try:
            yield
        finally:
            self.set_left_margin(self.l_margin - by)
            self.set_x(self.l_margin)

    def heading(self, text: str, size: float = 14, *, space_before: float = 3):
        """A bold heading, ragged right, kept with at least two lines of what follows it."""
        if self.get_y() + space_before + size * 0.9 > self.page_break_trigger:
            self.add_page()
        elif self.get_y() > self.t_margin:
            self.ln(space_before)
        self.para(text, size, "B", keep=2)

    def para(self, text: str, size: float = 10, style: str = "", *, keep: int = 0, after: float = 0):
        """Text, ragged right (never justified), broken at spaces; lines of the text break where it does.

        ``keep``: move to a new page unless this and ``keep`` more lines fit on this one.
        """
        self.set_font(FAMILY, style, size)
        height = size * LINE * 0.3528  # points to mm
        plain = self.prepare(text)
        for line_text in (text or "").split("\n"):
            if not line_text.strip():
                self.ln(height / 2)  # a blank line between paragraphs: half a line
                continue
            # Right-to-left text is broken by fpdf2, which shapes it; the rest here, a word at a time.
            lines = None if not plain and _right_to_left(line_text) else self._lines(line_text)
            needed = height * (min(len(lines) if lines else 1, 2) + keep)  # no line left alone at a page's foot
            if self.get_y() + needed > self.page_break_trigger and self.get_y() > self.t_margin:
                self.add_page()
            if lines is None:
                with self.shaped(line_text) as align:
                    self.multi_cell(0, height, line_text, align=align, new_x="LMARGIN", new_y="NEXT")
                continue
            for line in lines:
                if not plain:  # cell() sets the characters Noto Sans lacks in the fallback fonts
                    self.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")
                    continue
                # text() rather than cell(): a quarter of the work for a line known to fit, with the
                # baseline where cell() puts it; the page breaks here, as cell() would.
                if self.y + height > self.page_break_trigger:
                    self.add_page()
                self.text(self.l_margin + self.c_margin, self.y + 0.5 * height + 0.3 * self.font_size, line)
                self.set_y(self.y + height)
        if after:
            self.ln(after)

    def _lines(self, text: str) -> list[str] | None:
        """``text`` broken at spaces into lines that fit the page, measuring each word once.

        fpdf2's multi_cell re-measures the whole line for every character it
        adds (about 2 ms a paragraph, 20 s for a 2,000-item portfolio); its
        maintainers advise cell() for text known to fit. None when a word is
        wider than the page: multi_cell then breaks it as it always has.
        """
        width = self.epw - 2 * self.c_margin
        if self._width(text) <= width:
            return [text]
        space = self._width(" ")
        lines: list[str] = []
        line, line_width, started = "", 0.0, False
        for word in text.split(" "):
            word_width = self._width(word)
            if word_width > width:
                return None
            if started and word and line_width + space + word_width > width:
                lines.append(line)
                line, line_width = word, word_width
            elif started:
                line, line_width = f"{line} {word}", line_width + space + word_width
            else:
                line, line_width, started = word, word_width, True
        lines.append(line)
        # No word alone on the last line: "on 6 May 2025" (held together) takes the word before it along.
        if len(lines) > 1 and " " not in lines[-1]:
            before, _, word = lines[-2].rpartition(" ")
            if before and self._width(f"{word} {lines[-1]}") <= width:
                lines[-2:] = [before, f"{word} {lines[-1]}"]
        return lines

    def _width(self, text: str) -> float:
        """get_string_width, one character at a time and remembered (no kerning without shaping)."""
        widths = self._char_widths.setdefault((self.font_family, self.font_style, self.font_size_pt), {})
        total = 0.0
        for char in text:
            if char not in widths:
                widths[char] = self.get_string_width(char)
            total += widths[char]
        return total
