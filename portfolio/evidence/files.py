"""Evidence files on disk: accepted by their content, stored under random names, sent as downloads.

Nothing here touches the database; the evidence service owns the transaction:

    staged = files.stage_upload(form.file.data, field="file")   # raises FieldError
    try:
        ... add the row (stored_name, original_name, content_type, size, sha256) and commit ...
    except BaseException:
        files.discard(staged)
        raise
    files.finish(staged)

A crash between the commit and finish() leaves a ``.part`` file whose row
exists; clean_orphans() completes it, and removes files that no row names.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import secrets
import threading
import time
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from flask import Response, current_app, send_file
from PIL import Image, ImageOps
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound

from ..errors import FieldError

ACCEPTED_DESCRIPTION = "PDF, PNG, JPEG or DOCX"

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CHUNK_SIZE = 64 * 1024
MAX_NAME_LENGTH = 200
JPEG_QUALITY = 90
DOCX_MAX_ENTRIES = 1000
DOCX_MAX_UNCOMPRESSED = 100 * 1024 * 1024
# zipfile reads the whole central directory in a single read and builds an
# object per entry before we can count them: a 20 MB directory of empty
# entries is ~400,000 objects, well over 100 MB of memory and seconds of CPU.
# No single read may exceed this, which bounds that work; 1000 honest entries
# fit many times over.
DOCX_MAX_DIRECTORY_BYTES = 1024 * 1024
DOCX_MAX_CONTENT_TYPES_BYTES = 256 * 1024
# A .part file younger than this may be an upload whose row is being
# committed, and a final file younger than this may belong to a row committed
# after the caller listed the known names: clean_orphans leaves both alone.
ORPHAN_AGE_SECONDS = 60 * 60
PART_SUFFIX = ".part"

WRONG_KIND = f"The selected file must be a {ACCEPTED_DESCRIPTION}"
MACROS = "The selected file must be a DOCX without macros"


@dataclass(frozen=True)
class _Kind:
    content_type: str
    extension: str  # of stored names, and added to display names that lack a matching one
    display_extensions: tuple[str, ...]
    pillow_format: str | None = None


_KINDS = {
    PDF: _Kind(PDF, ".pdf", (".pdf",)),
    PNG: _Kind(PNG, ".png", (".png",), "PNG"),
    JPEG: _Kind(JPEG, ".jpg", (".jpg", ".jpeg"), "JPEG"),
    DOCX: _Kind(DOCX, ".docx", (".docx",)),
}
# For <input type="file" accept="...">: a hint to the browser's file picker, never a check.
ACCEPT = ",".join([ext for kind in _KINDS.values() for ext in kind.display_extensions] + list(_KINDS))
_EXTENSIONS = "|".join(re.escape(kind.extension[1:]) for kind in _KINDS.values())
_STORED_NAME = re.compile(rf"[0-9a-f]{{32}}\.(?:{_EXTENSIONS})")
_PART_NAME = re.compile(rf"({_STORED_NAME.pattern}){re.escape(PART_SUFFIX)}")
_SNIFF_BYTES = 8  # the longest signature below
# Dropped from display names: controls, and format characters such as the
# right-to-left override that makes "cert\u202efdp.exe" read as "certexe.pdf".
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})
# Decoding an image can take hundreds of MB, and warnings.catch_warnings
# changes process-wide state (before Python 3.14): one image at a time.
_IMAGE_LOCK = threading.Lock()


@dataclass(frozen=True)
class StagedFile:
    """An accepted upload, written to ``temp_path`` and waiting for its row's commit."""

    stored_name: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    temp_path: Path


@dataclass(frozen=True)
class CleanReport:
    """What clean_orphans did: renames it completed, files it removed."""

    completed: int
    removed: int


class _Refusal(Exception):
    """The upload is refused with ``message``; stage_upload puts it on the field."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def stage_upload(storage: FileStorage | None, *, field: str) -> StagedFile:
    """Stream an upload into a ``.part`` file, accepting it only by its content.

    Images are re-encoded (no metadata, nothing after the picture); PDF and
    DOCX files are stored as received. Nothing is left on disk when it fails.

    :raises FieldError: on ``field``, when there is no file or it is refused.
    """
    if storage is None or not storage.filename:
        raise FieldError(field, "Select a file")
    try:
        return _stage(storage)
    except _Refusal as refusal:
        raise FieldError(field, refusal.message) from None


def kind_problem(storage: FileStorage) -> str | None:
    """What an upload's first bytes already refuse (an empty file, or none of the accepted kinds), read without
    receiving the rest: for a form shown again with other problems, so that a wrong file is named at once rather
    than once everything else is right. The stream is left at its start."""
    stream = storage.stream
    try:
        stream.seek(0)
        head = _head(_chunks(stream))
        stream.seek(0)
    except (AttributeError, OSError):
        return None  # not to be read twice: checked when it is received
    try:
        _kind_of(head)
    except _Refusal as refusal:
        return refusal.message
    return None


def _kind_of(head: bytes) -> _Kind:
    """The accepted kind an upload's first bytes show.

    :raises _Refusal: for an empty file, or one of none of the accepted kinds.
    """
    if not head:
        raise _Refusal("The selected file is empty")
    kind = _sniff(head)
    if kind is None:
        raise _Refusal(WRONG_KIND)
    return kind


def _stage(storage: FileStorage) -> StagedFile:
    limit_mb = current_app.config.get("MAX_UPLOAD_MB", 20)
    stream = storage.stream
    try:
        stream.seek(0)  # a form validator may have read some of it already
    except (AttributeError, OSError):
        pass
    chunks = _chunks(stream)
    head = _head(chunks)
    kind = _kind_of(head)

    folder = _upload_folder()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stored_name = _new_name(kind)
    temp_path = folder / (stored_name + PART_SUFFIX)
    # An image arrives in a scratch file (itself a .part name, so that
    # clean_orphans removes it after a crash) and is re-encoded into temp_path.
    received = folder / (_new_name(kind) + PART_SUFFIX) if kind.pillow_format else temp_path
    try:
        size, sha256 = _receive(
            itertools.chain([head], chunks),
            received,
            limit=int(limit_mb * 1024 * 1024),
            too_large=f"The selected file must be smaller than {limit_mb} MB",
            durable=received == temp_path,
        )
        if kind.content_type == DOCX:
            _check_docx(received)
        if kind.pillow_format:
            _reencode(received, temp_path, kind.pillow_format)
            received.unlink()
            size, sha256 = _measure(temp_path)
        _sync_folder(folder)
    except BaseException:
        received.unlink(missing_ok=True)
        temp_path.unlink(missing_ok=True)
        raise
    return StagedFile(
        stored_name=stored_name,
        original_name=_display_name(storage.filename, kind),
        content_type=kind.content_type,
        size=size,
        sha256=sha256,
        temp_path=temp_path,
    )


def finish(staged: StagedFile) -> None:
    """Give a staged file its final name; call it after the row's commit."""
    final = stored_path(staged.stored_name)
    try:
        os.replace(_part_path(staged.stored_name), final)
    except FileNotFoundError:
        # clean_orphans completes a rename when it sees the committed row
        # first; then there is nothing left to do here.
        if not final.is_file():
            raise
        return
    _sync_folder(final.parent)


def discard(staged: StagedFile) -> None:
    """Remove a staged file whose row was not committed (no error if it is gone)."""
    _part_path(staged.stored_name).unlink(missing_ok=True)


def stored_path(stored_name: str) -> Path:
    """Where a stored file lives.

    :raises ValueError: for any name this module did not make (a path, a
        ``.part`` name, another extension).
    """
    if not isinstance(stored_name, str) or not _STORED_NAME.fullmatch(stored_name):
        raise ValueError(f"not a stored evidence file name: {stored_name!r}")
    return _upload_folder() / stored_name


def delete_stored(stored_name: str) -> None:
    """Remove a stored file, and any staged copy of it (no error if gone).

    :raises ValueError: as stored_path.
    """
    stored_path(stored_name).unlink(missing_ok=True)
    _part_path(stored_name).unlink(missing_ok=True)


def send_evidence_file(stored) -> Response:
    """An evidence file row's bytes, as the attachment it always is (access checked by the caller)."""
    return send_stored(stored.stored_name, download_name=stored.original_name, content_type=stored.content_type)


def send_stored(stored_name: str, *, download_name: str, content_type: str) -> Response:
    """Send a stored file as a download that browsers neither render nor sniff.

    Access checks are the caller's. ``download_name`` is cleaned as at upload,
    so it always ends with an extension matching ``content_type``.

    :raises ValueError: for a foreign name or content type.
    :raises NotFound: when the file is missing (logged: its row exists).
    """
    kind = _KINDS.get(content_type)
    if kind is None:
        raise ValueError(f"not an accepted content type: {content_type!r}")
    path = stored_path(stored_name)
    try:
        response = send_file(
            path,
            mimetype=kind.content_type,
            as_attachment=True,
            download_name=_display_name(download_name, kind),
        )
    except FileNotFoundError:
        current_app.logger.error("Evidence file %s is missing from the upload folder", stored_name)
        raise NotFound() from None
    # Set, not setdefault: the app-wide after_request only fills in missing headers.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "no-store"
    return response


def clean_orphans(known_names: Collection[str]) -> CleanReport:
    """Complete renames a crash interrupted and remove files that no row names.

    ``known_names`` are the stored names that have rows, read before this
    call. A ``.part`` whose name is known is renamed to its final name. Files
    with unknown names are removed once older than ORPHAN_AGE_SECONDS: a
    younger ``.part`` may be an upload in progress, and a younger final file
    may belong to a row committed after ``known_names`` was read. Files not
    named in this module's format are left alone.
    """
    folder = _upload_folder()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return CleanReport(completed=0, removed=0)
    cutoff = time.time() - ORPHAN_AGE_SECONDS
    completed = removed = 0
    for entry in entries:
        part = _PART_NAME.fullmatch(entry.name)
        name = part.group(1) if part else entry.name
        if not (part or _STORED_NAME.fullmatch(name)) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if name in known_names:
                if part:
                    os.replace(entry.path, folder / name)
                    completed += 1
            elif entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # finish(), discard() or another cleaner got there first
    return CleanReport(completed=completed, removed=removed)


# --- receiving -------------------------------------------------------------


def _upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def _new_name(kind: _Kind) -> str:
    return secrets.token_hex(16) + kind.extension


def _part_path(stored_name: str) -> Path:
    final = stored_path(stored_name)
    return final.with_name(final.name + PART_SUFFIX)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    # Always a size: read() without one would pull the whole upload into memory.
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


def _head(chunks: Iterator[bytes]) -> bytes:
    """The first chunks, until there are enough bytes to recognise the kind."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _SNIFF_BYTES:
            break
    return head


def _sniff(head: bytes) -> _Kind | None:
    if head.startswith(b"%PDF-"):
        return _KINDS[PDF]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _KINDS[PNG]
    if head.startswith(b"\xff\xd8\xff"):
        return _KINDS[JPEG]
    if head.startswith(b"PK\x03\x04"):
        return _KINDS[DOCX]  # if _check_docx agrees
    return None


def _create(path: Path) -> BinaryIO:
    """A new file only this process user can read; never an existing one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def _receive(chunks: Iterable[bytes], path: Path, *, limit: int, too_large: str, durable: bool) -> tuple[int, str]:
    """Write ``chunks`` to ``path``, stopping as soon as they pass ``limit`` bytes."""
    digest = hashlib.sha256()
    size = 0
    with _create(path) as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _Refusal(too_large)
            digest.update(chunk)
            out.write(chunk)
        if durable:
            _sync(out)
    return size, digest.hexdigest()


def _measure(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stored:
        for chunk in _chunks(stored):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


def _sync(out: BinaryIO) -> None:
    # The bytes must be on disk before the row that names them is committed.
    out.flush()
    os.fsync(out.fileno())


def _sync_folder(folder: Path) -> None:
    """Make renames and new names in ``folder`` durable (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _display_name(raw: str | None, kind: _Kind) -> str:
    """The user's file name, safe to show and to offer as a download name.

    Only the last path component; no control or invisible formatting
    characters; at most MAX_NAME_LENGTH characters; always ending with an
    extension of ``kind``, so a PDF uploaded as "notes.html" downloads as
    "notes.html.pdf" and opens as what it is.
    """
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", raw or ""))[-1]
    name = "".join(
        " " if ch.isspace() else ch for ch in name if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
    )
    name = " ".join(name.split()).strip(" .")
    root, extension = os.path.splitext(name)
    if extension.lower() not in kind.display_extensions:
        root, extension = name, kind.extension
    root = root[: MAX_NAME_LENGTH - len(extension)].rstrip(" .") or "file"
    return root + extension


# --- DOCX ------------------------------------------------------------------


class _CappedReads(io.BufferedReader):
    """A file refusing any single read longer than DOCX_MAX_DIRECTORY_BYTES."""

    def __init__(self, path: Path):
        super().__init__(io.FileIO(path, "r"))

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if len(data) > DOCX_MAX_DIRECTORY_BYTES:
            raise zipfile.BadZipFile("central directory too large")
        return data


def _check_docx(path: Path) -> None:
    """Accept a Word document without macros, reading only its directory.

    Nothing is decompressed but [Content_Types].xml, and only once the entry
    count and unpacked size are known to be within bounds.
    """
    try:
        with _CappedReads(path) as raw, zipfile.ZipFile(raw) as archive:
            entries = archive.infolist()
            if len(entries) > DOCX_MAX_ENTRIES:
                raise _Refusal(WRONG_KIND)
            if sum(entry.file_size for entry in entries) > DOCX_MAX_UNCOMPRESSED:
                raise _Refusal(WRONG_KIND)
            names = {entry.filename for entry in entries}
            if not {"[Content_Types].xml", "word/document.xml"} <= names:
                raise _Refusal(WRONG_KIND)
            # Part names are case-insensitive in Office documents.
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                raise _Refusal(MACROS)
            # A .docm renamed .docx declares its macros here whatever the part is called.
            content_types = _read_small(archive, "[Content_Types].xml", DOCX_MAX_CONTENT_TYPES_BYTES).lower()
            if b"macroenabled" in content_types or b"vbaproject" in content_types:
                raise _Refusal(MACROS)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error):
        # Corrupt, encrypted, or using a compression zipfile lacks: not a DOCX we take.
        raise _Refusal(WRONG_KIND) from None


def _read_small(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise _Refusal(WRONG_KIND)
    with archive.open(info) as entry:
        data = entry.read(limit + 1)  # the declared size may lie
    if len(data) > limit:
        raise _Refusal(WRONG_KIND)
    return data


# --- images ----------------------------------------------------------------


def _reencode(source: Path, target: Path, pillow_format: str) -> None:
    """Decode the image and write it afresh into ``target``.

    The new file has the picture turned the way its EXIF orientation said, and
    nothing else of the upload: no EXIF (GPS location included), XMP or
    comments, and no bytes hidden after the image data.
    """
    with _IMAGE_LOCK, warnings.catch_warnings(record=True):
        # Pillow warns about large images (checked below) and odd EXIF (dropped
        # anyway); recorded, never shown or raised.
        warnings.simplefilter("always")
        with open(source, "rb") as received:
            image, keep = _decode(received, pillow_format)
            with image, _create(target) as out:
                _save(image, out, pillow_format, keep)
                _sync(out)


def _save(image: Image.Image, out: IO[bytes], pillow_format: str, keep: dict) -> None:
    if pillow_format == "JPEG":
        image.save(out, format="JPEG", quality=JPEG_QUALITY, **keep)
    else:
        image.save(out, format="PNG", optimize=True, **keep)


def clean_image(data: bytes, *, field: str, max_side: int) -> tuple[str, bytes]:
    """A small PNG or JPEG (a logo), accepted by its content and re-encoded in memory as uploads are.

    Returns its content type and new bytes. Nothing but PNG and JPEG is
    taken: an SVG can carry script, so it is refused like any other kind.

    :raises FieldError: on ``field``, for another kind, a broken image, or one wider or higher than ``max_side``.
    """
    wrong_kind = "The selected file must be a PNG or JPEG"
    kind = _sniff(data[:_SNIFF_BYTES])
    if kind is None or kind.pillow_format is None:
        raise FieldError(field, wrong_kind)
    with _IMAGE_LOCK, warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # as in _reencode
        try:
            image, keep = _decode(io.BytesIO(data), kind.pillow_format, max_side=max_side)
        except _Refusal as refusal:
            raise FieldError(field, wrong_kind if refusal.message == WRONG_KIND else refusal.message) from None
        with image:
            out = io.BytesIO()
            _save(image, out, kind.pillow_format, keep)
    return kind.content_type, out.getvalue()


def _decode(received: IO[bytes], pillow_format: str, *, max_side: int | None = None) -> tuple[Image.Image, dict]:
    """The loaded, upright image and the little of its metadata worth keeping."""
    try:
        image = Image.open(received, formats=[pillow_format])
    except Image.DecompressionBombError:
        raise _Refusal(_too_many_pixels()) from None
    except Exception:  # anything the decoder trips on: not an image we can take
        raise _Refusal(WRONG_KIND) from None
    try:
        # Checked here, not left to Pillow's warning: outside the tests a
        # warning would let a picture of up to twice the limit be decoded.
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and image.width * image.height > limit:
            raise _Refusal(_too_many_pixels())
        # Before load(), so a small file cannot make us decode a huge picture.
        if max_side is not None and max(image.width, image.height) > max_side:
            raise _Refusal(f"The selected image must be at most {max_side} pixels wide and {max_side} pixels high")
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except _Refusal:
        image.close()
        raise
    except Exception:
        image.close()
        raise _Refusal(WRONG_KIND) from None
    # Colour profile and PNG transparency change how the picture looks;
    # everything else in info (exif, xmp, comment, text chunks) is dropped.
    keep = {key: image.info[key] for key in ("icc_profile", "transparency") if key in image.info}
    image.info = {}
    return image, keep


def _too_many_pixels() -> str:
    millions = max(1, round((Image.MAX_IMAGE_PIXELS or 0) / 1_000_000))
    return f"The selected image must be smaller than {millions} million pixels"
