"""Text out of an uploaded file, by extension: plain text and code as UTF-8, HTML without markup, PDF with
pypdf, DOCX with python-docx (both small, maintained, pure Python). A file that cannot be read raises
``UnreadableFileError`` (the vector store file fails with ``invalid_file``)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

from assistants_core.domain.files import extension_of

PLAIN_TEXT_EXTENSIONS = frozenset(
    {"c", "cpp", "cs", "css", "go", "java", "js", "json", "md", "php", "py", "rb", "sh", "tex", "ts", "txt"}
)


class UnreadableFileError(Exception):
    """The file's bytes are not what its extension says (or hold no text)."""


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise UnreadableFileError("The file is binary, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFileError("The file is not valid UTF-8 text.") from None


class _TextOfHtml(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "noscript", "template"})
    _CELLS = frozenset({"td", "th"})  # a row's cells stay words apart ("New York 85", not "York85")
    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in self._CELLS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(data: bytes) -> str:
    parser = _TextOfHtml()
    parser.feed(_decode(data))
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t]+", " ", text))


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise UnreadableFileError(f"The PDF could not be read: {error}") from None


def _docx_text(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, ValueError, KeyError) as error:
        raise UnreadableFileError(f"The DOCX could not be read: {error}") from None
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def extract_text(filename: str, data: bytes) -> str:
    """The text of a file; ``UnreadableFileError`` when it has none or is not what it claims to be."""
    extension = extension_of(filename)
    if extension in PLAIN_TEXT_EXTENSIONS:
        text = _decode(data)
    elif extension == "html":
        text = _html_text(data)
    elif extension == "pdf":
        text = _pdf_text(data)
    elif extension == "docx":
        text = _docx_text(data)
    else:
        raise UnreadableFileError(f"Files of type '.{extension}' cannot be parsed.")
    if not text.strip():
        raise UnreadableFileError("The file holds no text.")
    return text
