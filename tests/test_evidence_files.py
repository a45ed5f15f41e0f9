"""Evidence files: accepted by content, re-encoded images, staged then finished, sent as downloads, orphans cleaned."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageFile, PngImagePlugin
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound

from portfolio.errors import FieldError
from portfolio.evidence import files
from portfolio.evidence.files import (
    CleanReport,
    StagedFile,
    clean_orphans,
    delete_stored,
    discard,
    finish,
    send_stored,
    stage_upload,
    stored_path,
)
from tests.factories import MIB, PDF, SVG, png_bytes
from tests.pages import WRONG_KIND, files_on_disk, upload_folder

MACROS = "The selected file must be a DOCX without macros"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NAME = "0123456789abcdef0123456789abcdef"  # a stored-name stem in our format

CONTENT_TYPES_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
DOCUMENT_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body><w:p><w:r><w:t>Observed practice: home visit</w:t></w:r></w:p></w:body></w:document>"
)


# --- sample files ------------------------------------------------------------


def jpeg_bytes(size=(12, 8), mode="RGB", colour="teal", **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def phone_photo_exif() -> Image.Exif:
    """EXIF as a phone writes it: maker, sideways orientation, and where the photo was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme Phones"
    exif[ExifTags.Base.Orientation] = 6  # turn 90 degrees clockwise to view
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    return exif


def zip_bytes(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_bytes(extra: dict[str, bytes] | None = None, content_types: bytes = CONTENT_TYPES_XML) -> bytes:
    return zip_bytes({"[Content_Types].xml": content_types, "word/document.xml": DOCUMENT_XML, **(extra or {})})


def upload(data: bytes, filename="evidence.pdf", content_type="application/pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename, content_type=content_type)


def staged_bytes(staged: StagedFile) -> bytes:
    return staged.temp_path.read_bytes()


def assert_upload_refused(app, storage: FileStorage, message: str, field: str = "evidence_file") -> None:
    with pytest.raises(FieldError) as refused:
        stage_upload(storage, field=field)
    assert refused.value.field == field
    assert refused.value.message == message
    assert str(refused.value) == message
    assert files_on_disk(app) == []


class StrictStream(io.RawIOBase):
    """An upload stream that fails the test if asked for everything at once, and counts what it serves.

    ``total`` bytes of ``prefix`` followed by filler, produced on demand: a
    50 MB upload costs nothing unless the code under test reads it all.
    """

    def __init__(self, prefix: bytes, total: int | None = None):
        self.prefix = prefix
        self.total = len(prefix) if total is None else total
        self.position = 0
        self.read_sizes: list[int] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        assert (offset, whence) == (0, io.SEEK_SET), "only a rewind to the start is expected"
        self.position = 0
        return 0

    def read(self, size=-1):
        if size is None or size < 0:
            raise AssertionError("read() without a size pulls the whole upload into memory")
        self.read_sizes.append(size)
        start, end = self.position, min(self.position + size, self.total)
        data = self.prefix[start:end]
        self.position = end
        return data + b"0" * (end - start - len(data))

    def readall(self):
        raise AssertionError("readall() pulls the whole upload into memory")

    def readline(self, size=-1):
        raise AssertionError("uploads are binary, not read by line")

    def readinto(self, buffer):
        raise AssertionError("readinto() is not expected")

    @property
    def served(self) -> int:
        return self.position


# --- accepted files ------------------------------------------------------------


def test_a_pdf_is_staged_as_received_under_a_random_name(app):
    staged = stage_upload(upload(PDF, "Safeguarding certificate.pdf"), field="evidence_file")

    assert staged.content_type == "application/pdf"
    assert staged.original_name == "Safeguarding certificate.pdf"
    assert staged.stored_name.endswith(".pdf") and len(staged.stored_name) == 36
    assert "Safeguarding" not in staged.stored_name
    assert staged.temp_path == upload_folder(app) / (staged.stored_name + ".part")
    assert staged_bytes(staged) == PDF
    assert staged.size == len(PDF)
    assert staged.sha256 == hashlib.sha256(PDF).hexdigest()
    assert files_on_disk(app) == [staged.stored_name + ".part"]


def test_every_upload_gets_its_own_name(app):
    names = {stage_upload(upload(PDF, "same.pdf"), field="f").stored_name for _ in range(3)}

    assert len(names) == 3


def test_the_upload_folder_is_created_private_and_files_are_private(app):
    staged = stage_upload(upload(PDF), field="f")

    assert stat.S_IMODE(upload_folder(app).stat().st_mode) == 0o700
    assert stat.S_IMODE(staged.temp_path.stat().st_mode) == 0o600


def test_the_kind_comes_from_the_bytes_not_the_name_or_the_browser(app):
    staged = stage_upload(upload(PDF, "scan.png", "image/png"), field="f")

    assert staged.content_type == "application/pdf"
    assert staged.stored_name.endswith(".pdf")


def test_a_docx_is_accepted_and_stored_unchanged(app):
    data = docx_bytes()

    staged = stage_upload(upload(data, "Reflection.docx", "application/octet-stream"), field="f")

    assert staged.content_type == DOCX_TYPE
    assert staged.stored_name.endswith(".docx")
    assert staged.original_name == "Reflection.docx"
    assert staged_bytes(staged) == data
    assert staged.sha256 == hashlib.sha256(data).hexdigest()


def test_a_docx_with_exactly_1000_entries_is_accepted(app):
    data = docx_bytes({f"word/media/part{i}.xml": b"<x/>" for i in range(998)})

    assert stage_upload(upload(data, "big.docx"), field="f").content_type == DOCX_TYPE


def test_a_png_is_re_encoded_and_keeps_its_picture(app):
    original = Image.new("RGBA", (5, 4))
    original.putdata([(i * 10, 255 - i * 10, i, 128 + i) for i in range(20)])
    buffer = io.BytesIO()
    original.save(buffer, "PNG")

    staged = stage_upload(upload(buffer.getvalue(), "chart.png", "image/png"), field="f")

    assert staged.content_type == "image/png"
    assert staged.stored_name.endswith(".png")
    with Image.open(staged.temp_path) as stored:
        assert stored.format == "PNG"
        assert stored.convert("RGBA").tobytes() == original.tobytes()
    assert staged.size == staged.temp_path.stat().st_size
    assert staged.sha256 == hashlib.sha256(staged_bytes(staged)).hexdigest()


def test_png_transparency_survives_re_encoding(app):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=1)

    staged = stage_upload(upload(buffer.getvalue(), "icon.png", "image/png"), field="f")

    with Image.open(staged.temp_path) as stored:
        assert stored.convert("RGBA").getpixel((0, 0)) == (255, 0, 0, 0)


def test_a_png_loses_whatever_was_appended_after_it(app):
    picture = png_bytes()
    polyglot = picture + b"<html><script>alert(document.cookie)</script></html>"
    with Image.open(io.BytesIO(polyglot)) as opened:  # still a valid PNG to a viewer
        opened.load()

    staged = stage_upload(upload(polyglot, "chart.png", "image/png"), field="f")

    stored = staged_bytes(staged)
    assert b"<script>" not in stored
    assert stored.endswith(b"IEND\xaeB`\x82")
    assert staged.size == len(stored)
    assert staged.sha256 == hashlib.sha256(stored).hexdigest() != hashlib.sha256(polyglot).hexdigest()


def test_png_text_and_exif_chunks_are_dropped(app):
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "Mrs Jones, 14 Acacia Avenue")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme Phones"
    data = png_bytes(pnginfo=text, exif=exif)
    with Image.open(io.BytesIO(data)) as sample:
        assert sample.info["Comment"] and sample.getexif()[ExifTags.Base.Make] == "Acme Phones"

    staged = stage_upload(upload(data, "photo.png", "image/png"), field="f")

    stored = staged_bytes(staged)
    assert b"Acacia" not in stored and b"Acme" not in stored
    with Image.open(staged.temp_path) as reopened:
        assert "Comment" not in reopened.info
        assert dict(reopened.getexif()) == {}


def test_a_jpeg_loses_its_location_and_other_metadata_but_keeps_its_orientation(app):
    data = jpeg_bytes(
        size=(40, 20),
        exif=phone_photo_exif(),
        comment=b"taken at Mrs Jones's house",
        xmp=b"<x:xmpmeta><exif:GPSLatitude>51,30.2N</exif:GPSLatitude></x:xmpmeta>",
    )
    with Image.open(io.BytesIO(data)) as sample:  # the sample really carries a location
        assert sample.getexif()[ExifTags.Base.Make] == "Acme Phones"
        assert sample.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (51.0, 30.0, 12.5)

    staged = stage_upload(upload(data, "IMG_0042.JPG", "image/jpeg"), field="f")

    assert staged.content_type == "image/jpeg"
    assert staged.stored_name.endswith(".jpg")
    assert staged.original_name == "IMG_0042.JPG"
    stored = staged_bytes(staged)
    for secret in (b"Exif\x00\x00", b"Acme", b"Mrs Jones", b"GPSLatitude"):
        assert secret not in stored
    with Image.open(staged.temp_path) as reopened:
        assert reopened.format == "JPEG"
        assert dict(reopened.getexif()) == {}
        assert reopened.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert not {"exif", "xmp", "comment"} & set(reopened.info)
        assert reopened.size == (20, 40)  # turned upright, as the orientation tag said
    assert staged.size == len(stored)
    assert staged.sha256 == hashlib.sha256(stored).hexdigest()


def test_a_jpeg_with_bytes_appended_loses_them(app):
    polyglot = jpeg_bytes() + b"PK\x03\x04 a zip hiding after the picture"

    staged = stage_upload(upload(polyglot, "photo.jpg", "image/jpeg"), field="f")

    stored = staged_bytes(staged)
    assert b"hiding" not in stored
    assert stored.endswith(b"\xff\xd9")


@pytest.mark.parametrize(
    ("save", "mode"),
    [(png_bytes, mode) for mode in ("1", "L", "LA", "P", "I;16", "RGB", "RGBA")]
    + [(jpeg_bytes, mode) for mode in ("L", "RGB", "CMYK")],
)
def test_every_kind_of_picture_survives_re_encoding(app, save, mode):
    data = save(size=(9, 7), mode=mode, colour=1)

    staged = stage_upload(upload(data, "picture"), field="f")

    with Image.open(io.BytesIO(data)) as original, Image.open(staged.temp_path) as stored:
        assert (stored.format, stored.mode, stored.size) == (original.format, original.mode, original.size)


def test_images_leave_no_scratch_file_behind(app):
    staged = stage_upload(upload(png_bytes(), "a.png", "image/png"), field="f")

    assert files_on_disk(app) == [staged.temp_path.name]


# --- display names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("C:\\Users\\amy\\Documents\\cert.pdf", PDF, "cert.pdf"),
        ("../../etc/passwd.pdf", PDF, "passwd.pdf"),
        ("rep\x00ort\x1b\x7f.pdf", PDF, "report.pdf"),
        ("line\nbreak\tand  spaces.pdf", PDF, "line break and spaces.pdf"),
        ("invoice\u202efdp.exe", PDF, "invoicefdp.exe.pdf"),
        ("notes.html", PDF, "notes.html.pdf"),
        ("photo.png", jpeg_bytes(), "photo.png.jpg"),
        ("Scan.JPEG", jpeg_bytes(), "Scan.JPEG"),
        ("no extension", PDF, "no extension.pdf"),
        ("\x00\x01\x02", PDF, "file.pdf"),
        ("...", docx_bytes(), "file.docx"),
        ("/", png_bytes(), "file.png"),
        ("Mañana café.pdf", PDF, "Mañana café.pdf"),
    ],
)
def test_the_original_name_is_cleaned_for_display(app, filename, data, expected):
    staged = stage_upload(upload(data, filename), field="f")

    assert staged.original_name == expected


def test_a_long_name_is_cut_to_200_characters_keeping_its_extension(app):
    staged = stage_upload(upload(PDF, "a" * 300 + ".pdf"), field="f")

    assert staged.original_name == "a" * 196 + ".pdf"


# --- refused files ----------------------------------------------------------------


@pytest.mark.parametrize("data", [None, b"", PDF], ids=["no file field", "empty part", "nameless part"])
def test_no_file_selected(app, data):
    # Browsers send an empty part with filename="" when no file was chosen.
    storage = None if data is None else FileStorage(io.BytesIO(data), filename="")

    assert_upload_refused(app, storage, "Select a file")


def test_an_empty_file_is_refused(app):
    assert_upload_refused(app, upload(b"", "blank.pdf"), "The selected file is empty")


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "message"),
    [
        pytest.param(SVG, "chart.png", "image/png", WRONG_KIND, id="svg named png"),
        pytest.param(SVG, "chart.svg", "image/svg+xml", WRONG_KIND, id="svg"),
        pytest.param(
            b"<!DOCTYPE html><script>alert(1)</script>", "cert.pdf", "application/pdf", WRONG_KIND, id="html named pdf"
        ),
        pytest.param(b"Supervision notes, plain text", "notes.pdf", "application/pdf", WRONG_KIND, id="plain text"),
        pytest.param(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif", "image/gif", WRONG_KIND, id="gif"),
        pytest.param(
            b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60 + b"This program",
            "cert.pdf",
            "application/pdf",
            WRONG_KIND,
            id="renamed exe",
        ),
        pytest.param(b" \n%PDF-1.4\n%%EOF", "cert.pdf", "application/pdf", WRONG_KIND, id="pdf after junk"),
        pytest.param(b"\xff\xd8", "short.jpg", "image/jpeg", WRONG_KIND, id="two bytes"),
        pytest.param(
            zip_bytes({"photos/1.jpg": b"...", "notes.txt": b"hello"}),
            "notes.docx",
            DOCX_TYPE,
            WRONG_KIND,
            id="zip not docx",
        ),
        pytest.param(
            zip_bytes({"[Content_Types].xml": CONTENT_TYPES_XML}),
            "notes.docx",
            DOCX_TYPE,
            WRONG_KIND,
            id="docx without document",
        ),
        pytest.param(b"PK\x03\x04" + b"\x00" * 100, "notes.docx", DOCX_TYPE, WRONG_KIND, id="corrupt zip"),
        pytest.param(
            docx_bytes({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0macros"}),
            "notes.docx",
            DOCX_TYPE,
            MACROS,
            id="docx with macros",
        ),
        pytest.param(
            docx_bytes({"word/VBAPROJECT.BIN": b"macros"}), "notes.docx", DOCX_TYPE, MACROS, id="macros in capitals"
        ),
        pytest.param(
            docx_bytes(
                {"word/code.bin": b"macros"},
                content_types=CONTENT_TYPES_XML.replace(
                    b"</Types>",
                    b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>',
                ),
            ),
            "notes.docx",
            DOCX_TYPE,
            MACROS,
            id="macros under another name",
        ),
        pytest.param(
            docx_bytes(
                content_types=CONTENT_TYPES_XML.replace(b"document.main+xml", b"document.macroEnabled.main+xml")
            ),
            "notes.docx",
            DOCX_TYPE,
            MACROS,
            id="docm renamed docx",
        ),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "chart.png", "image/png", WRONG_KIND, id="corrupt png"),
        pytest.param(png_bytes(size=(64, 64))[:60], "chart.png", "image/png", WRONG_KIND, id="truncated png"),
        pytest.param(jpeg_bytes(size=(64, 64))[:300], "photo.jpg", "image/jpeg", WRONG_KIND, id="truncated jpeg"),
        pytest.param(
            b"\xff\xd8\xff<html><script>alert(1)</script>",
            "photo.jpg",
            "image/jpeg",
            WRONG_KIND,
            id="html behind jpeg signature",
        ),
    ],
)
def test_files_that_are_not_accepted_kinds_are_refused(app, data, filename, content_type, message):
    assert_upload_refused(app, upload(data, filename, content_type), message)


def test_a_docx_with_more_than_1000_entries_is_refused(app):
    data = docx_bytes({f"word/media/part{i}.xml": b"<x/>" for i in range(999)})

    assert_upload_refused(app, upload(data, "big.docx"), WRONG_KIND)


def test_a_docx_that_unpacks_to_more_than_100_mb_is_refused(app):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES_XML)
        archive.writestr("word/document.xml", DOCUMENT_XML)
        # Two halves: the limit is on the total, not on one entry.
        for name, size in (("word/media/a.bin", 50 * MIB), ("word/media/b.bin", 50 * MIB)):
            with archive.open(name, "w") as entry:
                for _ in range(size // MIB):
                    entry.write(bytes(MIB))
    data = buffer.getvalue()
    assert len(data) < MIB  # a small upload, a big unpacking

    assert_upload_refused(app, upload(data, "bomb.docx"), WRONG_KIND)


def test_a_docx_with_a_huge_central_directory_is_refused_before_it_is_parsed(app, monkeypatch):
    # 900 entries (under the count limit) with 1200-character names: a
    # central directory over 1 MiB, refused before zipfile lists it.
    data = docx_bytes({f"word/{i:04d}" + "x" * 1200: b"" for i in range(900)})
    listed = []
    real_init = zipfile.ZipInfo.__init__

    def counting_init(self, *args, **kwargs):
        listed.append(args)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipInfo, "__init__", counting_init)

    assert_upload_refused(app, upload(data, "dir.docx"), WRONG_KIND)
    assert listed == []


def test_a_file_over_the_limit_is_refused(app):
    app.config["MAX_UPLOAD_MB"] = 1

    assert_upload_refused(app, upload(PDF + b"0" * (MIB + 1 - len(PDF))), "The selected file must be smaller than 1 MB")


def test_a_file_of_exactly_the_limit_is_accepted(app):
    app.config["MAX_UPLOAD_MB"] = 1

    staged = stage_upload(upload(PDF + b"0" * (MIB - len(PDF))), field="f")

    assert staged.size == MIB


def test_reading_stops_as_soon_as_the_limit_is_passed(app):
    app.config["MAX_UPLOAD_MB"] = 1
    stream = StrictStream(b"%PDF-1.7\n", total=50 * MIB)

    assert_upload_refused(app, FileStorage(stream, filename="huge.pdf"), "The selected file must be smaller than 1 MB")
    assert stream.served <= MIB + files.CHUNK_SIZE


def test_the_limit_defaults_to_the_configured_20_mb(app):
    assert app.config["MAX_UPLOAD_MB"] == 20
    stream = StrictStream(b"%PDF-1.7\n", total=20 * MIB + 1)

    assert_upload_refused(app, FileStorage(stream, filename="huge.pdf"), "The selected file must be smaller than 20 MB")


@pytest.mark.parametrize("data", [PDF, docx_bytes(), png_bytes(), jpeg_bytes()], ids=["pdf", "docx", "png", "jpeg"])
def test_the_upload_is_read_in_chunks_never_all_at_once(app, data):
    stream = StrictStream(data)

    stage_upload(FileStorage(stream, filename="evidence"), field="f")

    assert stream.read_sizes and set(stream.read_sizes) == {files.CHUNK_SIZE}
    assert stream.served == len(data)


def test_a_refused_kind_is_known_from_the_first_chunk(app):
    stream = StrictStream(b"<html>", total=10 * MIB)

    assert_upload_refused(app, FileStorage(stream, filename="x.pdf"), WRONG_KIND)
    assert stream.read_sizes == [files.CHUNK_SIZE]


def test_the_upload_is_read_from_its_start_even_if_a_validator_read_some(app):
    storage = upload(PDF)
    storage.stream.read(10)

    assert staged_bytes(stage_upload(storage, field="f")) == PDF


def test_a_failure_while_receiving_leaves_nothing_behind(app):
    class BrokenStream(StrictStream):
        def read(self, size=-1):
            if self.position > 0:
                raise OSError("client went away")
            return super().read(size)

    stream = BrokenStream(b"%PDF-1.7\n", total=5 * MIB)

    with pytest.raises(OSError, match="client went away"):
        stage_upload(FileStorage(stream, filename="x.pdf"), field="f")
    assert files_on_disk(app) == []


@pytest.mark.parametrize(("save", "pillow_format"), [(png_bytes, "PNG"), (jpeg_bytes, "JPEG")])
@pytest.mark.parametrize("size", [(2000, 1001), (3000, 1500)], ids=["over the limit", "over twice the limit"])
def test_images_with_too_many_pixels_are_refused_without_a_warning(app, monkeypatch, save, pillow_format, size):
    data = save(size=size, mode="L", colour=0)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2_000_000)
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or real_load(self))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as pytest is configured: any warning that escapes fails here
        assert_upload_refused(
            app,
            upload(data, "big", "image/" + pillow_format.lower()),
            "The selected image must be smaller than 2 million pixels",
        )
    assert decoded == []  # refused from the header, before decoding


def test_an_image_at_the_pixel_limit_is_accepted(app, monkeypatch):
    data = png_bytes(size=(2000, 1000), mode="L", colour=0)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2_000_000)

    assert stage_upload(upload(data, "big.png"), field="f").content_type == "image/png"


def test_a_photo_with_corrupt_exif_is_accepted_without_a_warning(app):
    # Pillow warns "Corrupt EXIF data" while reading the orientation of this one.
    data = jpeg_bytes(
        exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02\x00\x00\x00\xff\x00\x00\x00\x00"
    )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        staged = stage_upload(upload(data, "photo.jpg", "image/jpeg"), field="f")

    assert b"Exif" not in staged_bytes(staged)


# --- finish, discard, delete ------------------------------------------------------------


def test_finish_gives_the_file_its_final_name(app):
    staged = stage_upload(upload(PDF), field="f")

    finish(staged)

    assert not staged.temp_path.exists()
    assert stored_path(staged.stored_name).read_bytes() == PDF
    assert files_on_disk(app) == [staged.stored_name]


def test_finish_after_clean_orphans_completed_it_does_nothing(app):
    staged = stage_upload(upload(PDF), field="f")
    assert clean_orphans({staged.stored_name}) == CleanReport(completed=1, removed=0)

    finish(staged)

    assert stored_path(staged.stored_name).read_bytes() == PDF


def test_finish_without_the_staged_file_fails(app):
    staged = stage_upload(upload(PDF), field="f")
    discard(staged)

    with pytest.raises(FileNotFoundError):
        finish(staged)


def test_discard_removes_the_staged_file_and_tolerates_a_second_call(app):
    staged = stage_upload(upload(png_bytes(), "a.png"), field="f")

    discard(staged)
    discard(staged)

    assert files_on_disk(app) == []


def test_delete_stored_removes_the_file_and_tolerates_a_second_call(app):
    keep = stage_upload(upload(PDF), field="f")
    gone = stage_upload(upload(PDF), field="f")
    finish(keep)
    finish(gone)

    delete_stored(gone.stored_name)
    delete_stored(gone.stored_name)

    assert files_on_disk(app) == [keep.stored_name]


def test_delete_stored_refuses_foreign_names(app, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("not ours")

    with pytest.raises(ValueError):
        delete_stored("../victim.txt")
    assert victim.exists()


# --- stored_path ------------------------------------------------------------


def test_stored_path_is_in_the_upload_folder(app):
    assert stored_path(NAME + ".pdf") == upload_folder(app) / (NAME + ".pdf")


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "../" + NAME + ".pdf",
        "sub/" + NAME + ".pdf",
        "/etc/passwd",
        "",
        ".",
        NAME + ".pdf.part",
        NAME + ".exe",
        NAME + ".PDF",
        NAME + ".html",
        NAME.upper() + ".pdf",
        NAME[:-1] + ".pdf",
        NAME + "0.pdf",
        NAME + ".pdf\n",
        NAME + ".pdf/",
        "certificate.pdf",
        None,
    ],
)
def test_stored_path_refuses_names_that_are_not_ours(app, name):
    with pytest.raises(ValueError):
        stored_path(name)


# --- send_stored ------------------------------------------------------------


def stored_pdf(app) -> str:
    staged = stage_upload(upload(PDF, "cert.pdf"), field="f")
    finish(staged)
    return staged.stored_name


def test_send_stored_sends_an_attachment_browsers_will_not_render(app):
    name = stored_pdf(app)

    with app.test_request_context():
        response = send_stored(name, download_name="Moving & handling – 2026.pdf", content_type="application/pdf")
        try:
            response.direct_passthrough = False
            body = response.get_data()
        finally:
            response.close()

    assert body == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Moving%20&%20handling%20%E2%80%93%202026.pdf" in disposition


def test_send_stored_headers_survive_the_app_wide_headers(app):
    name = stored_pdf(app)
    app.add_url_rule(
        "/test-download/<name>",
        "test_download",
        lambda name: send_stored(name, download_name="x.pdf", content_type="application/pdf"),
    )
    client = app.test_client()

    response = client.get(f"/test-download/{name}")
    try:
        assert response.status_code == 200
        assert response.data == PDF
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"] == "attachment; filename=x.pdf"
    finally:
        response.close()


def test_send_stored_cleans_the_download_name_and_gives_it_the_right_extension(app):
    name = stored_pdf(app)

    with app.test_request_context():
        response = send_stored(name, download_name="../evil.html\r\nSet-Cookie: a=b", content_type="application/pdf")
        response.close()

    assert response.headers["Content-Disposition"] == 'attachment; filename="evil.html Set-Cookie: a=b.pdf"'
    assert "Set-Cookie" not in response.headers


def test_send_stored_of_a_missing_file_is_not_found(app):
    with app.test_request_context(), pytest.raises(NotFound):
        send_stored(NAME + ".pdf", download_name="x.pdf", content_type="application/pdf")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("../" + NAME + ".pdf", "application/pdf"), (NAME + ".pdf", "text/html"), (NAME + ".pdf", "image/svg+xml")],
)
def test_send_stored_refuses_foreign_names_and_types(app, name, content_type):
    with app.test_request_context(), pytest.raises(ValueError):
        send_stored(name, download_name="x.pdf", content_type=content_type)


# --- clean_orphans ------------------------------------------------------------


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


HOUR = 60 * 60


def put(app, name: str, data: bytes = b"%PDF-1.4 sample", *, older_than: float = 0) -> Path:
    folder = upload_folder(app)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    if older_than:
        age(path, older_than)
    return path


def test_clean_orphans_completes_a_rename_the_process_died_before(app):
    staged = stage_upload(upload(PDF), field="f")  # the row was committed, then the process died

    report = clean_orphans({staged.stored_name})

    assert report == CleanReport(completed=1, removed=0)
    assert files_on_disk(app) == [staged.stored_name]
    assert stored_path(staged.stored_name).read_bytes() == PDF


def test_clean_orphans_completes_old_renames_too(app):
    put(app, f"{NAME}.png.part", older_than=5 * HOUR)

    assert clean_orphans({f"{NAME}.png"}) == CleanReport(completed=1, removed=0)
    assert files_on_disk(app) == [f"{NAME}.png"]


def test_clean_orphans_leaves_an_upload_in_progress(app):
    staged = stage_upload(upload(PDF), field="f")
    age(staged.temp_path, HOUR - 60)

    assert clean_orphans(set()) == CleanReport(completed=0, removed=0)
    assert files_on_disk(app) == [staged.temp_path.name]


def test_clean_orphans_removes_an_abandoned_upload(app):
    staged = stage_upload(upload(PDF), field="f")
    age(staged.temp_path, HOUR + 60)

    assert clean_orphans(set()) == CleanReport(completed=0, removed=1)
    assert files_on_disk(app) == []


def test_clean_orphans_removes_files_without_a_row(app):
    known = put(app, f"{NAME}.pdf", older_than=2 * HOUR)
    orphan = put(app, f"{'a' * 32}.docx", older_than=2 * HOUR)

    assert clean_orphans({known.name}) == CleanReport(completed=0, removed=1)
    assert files_on_disk(app) == [known.name]
    assert not orphan.exists()


def test_clean_orphans_leaves_a_new_file_whose_row_it_may_not_have_seen(app):
    # Committed and finished after the caller read the known names.
    staged = stage_upload(upload(PDF), field="f")
    finish(staged)

    assert clean_orphans(set()) == CleanReport(completed=0, removed=0)
    assert files_on_disk(app) == [staged.stored_name]


def test_clean_orphans_ignores_what_is_not_ours(app):
    foreign = [
        put(app, "README.txt", older_than=5 * HOUR),
        put(app, f"{NAME}.exe", older_than=5 * HOUR),
        put(app, f"{NAME.upper()}.pdf", older_than=5 * HOUR),
        put(app, f"{NAME}.pdf.part.part", older_than=5 * HOUR),
        put(app, f"{NAME}.part", older_than=5 * HOUR),
        put(app, "x.pdf.part", older_than=5 * HOUR),
    ]
    (upload_folder(app) / f"{'b' * 32}.pdf").mkdir()
    outside = upload_folder(app).parent / "outside.pdf"
    outside.write_bytes(b"not ours")
    link = upload_folder(app) / f"{'c' * 32}.pdf"
    link.symlink_to(outside)
    then = time.time() - 5 * HOUR
    os.utime(link, (then, then), follow_symlinks=False)

    assert clean_orphans(set()) == CleanReport(completed=0, removed=0)
    assert all(path.exists() for path in foreign)
    assert link.is_symlink() and outside.exists()


def test_clean_orphans_with_no_upload_folder_does_nothing(app):
    assert not upload_folder(app).exists()

    assert clean_orphans(set()) == CleanReport(completed=0, removed=0)


def test_clean_orphans_counts_each_case_once(app):
    put(app, f"{'1' * 32}.pdf.part")  # known, to complete
    put(app, f"{'2' * 32}.jpg.part", older_than=2 * HOUR)  # abandoned
    put(app, f"{'3' * 32}.jpg.part")  # in progress
    put(app, f"{'4' * 32}.png", older_than=2 * HOUR)  # no row
    put(app, f"{'5' * 32}.png", older_than=2 * HOUR)  # has a row

    report = clean_orphans({f"{'1' * 32}.pdf", f"{'5' * 32}.png"})

    assert report == CleanReport(completed=1, removed=2)
    assert files_on_disk(app) == [f"{'1' * 32}.pdf", f"{'3' * 32}.jpg.part", f"{'5' * 32}.png"]
