"""Uploaded documents to plain text: PDF (pypdf), DOCX (python-docx), TXT,
Markdown and HTML (the standard library's html.parser). Blocking: callers run
it off the event loop. Bad input raises DocumentError with the reason."""

from __future__ import annotations

import io
import re
import zipfile
from html.parser import HTMLParser

TYPES = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
}


class DocumentError(ValueError):
    """The document cannot be used (the reason says why): a 4xx for the uploader."""


def content_type(filename: str) -> str:
    """pdf, docx, txt, md or html from the file's name; DocumentError for others."""
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in TYPES:
        known = ", ".join(sorted(TYPES))
        raise DocumentError(f"{filename!r}: unsupported type (expected one of {known})")
    return TYPES[suffix]


def parse(kind: str, data: bytes) -> str:
    """The text of a document of `kind` (from content_type)."""
    if not data:
        raise DocumentError("the file is empty")
    match kind:
        case "pdf":
            text = _pdf(data)
        case "docx":
            text = _docx(data)
        case "html":
            text = _html(_decoded(data))
        case _:
            text = _decoded(data)
    text = _tidy(text)
    if not text:
        raise DocumentError("the document holds no text")
    return text


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.startswith(b"%PDF-"):
        raise DocumentError("not a PDF file (no %PDF- header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("the PDF is encrypted: upload it without a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"the PDF cannot be read ({exc})") from None
    text = "\n\n".join(pages)
    if not text.strip():
        raise DocumentError("the PDF holds no text (scanned pages need OCR first)")
    return text


def _docx(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(f"the DOCX file cannot be read ({exc})") from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(" | ".join(cell.text for cell in row.cells) for row in table.rows)
    return "\n\n".join(parts)


def _decoded(data: bytes) -> str:
    try:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte-order mark
            return data.decode("utf-16")
        if b"\x00" in data[:4096]:
            raise DocumentError("a binary file, not text")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"the text is not UTF-8 or UTF-16 (byte {exc.start})") from None


class _Text(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html(source: str) -> str:
    parser = _Text()
    parser.feed(source)
    parser.close()
    return "".join(parser.parts)


def _tidy(text: str) -> str:
    """Spaces within lines squeezed, at most one blank line between paragraphs."""
    lines = [re.sub(r"[ \t\f\v\u00a0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
