"""Read a user's text file robustly, or refuse it with a message naming the file.

Accepted: UTF-8 (with or without a byte-order mark), UTF-16 with a BOM, and Windows-1252 (cp1252,
what Excel and many Windows tools write) as a fallback with a warning; CRLF, CR and LF line ends.
Refused (:class:`BadInput`): a missing path, a folder, an empty (or whitespace-only) file, and a
binary file (NUL bytes that are not UTF-16, e.g. a spreadsheet or an SPSS file given to a text
importer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common.errors import BadInput

_SNIFF = 8192


@dataclass
class TextFile:
    path: Path
    text: str  # line ends normalised to "\n", BOM removed
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "cp1252"
    warnings: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def check_file(path: str | Path, *, what: str = "file") -> Path:
    """The path as a :class:`Path`, or BadInput if it is missing or not a regular file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput(f"no such {what}", where=p, fix="check the path")
    if p.is_dir():
        raise BadInput(f"is a folder, not a {what}", where=p, fix="give the path of a file")
    return p


def looks_binary(data: bytes) -> bool:
    """NUL bytes in the first 8 KiB (and no UTF-16 BOM) mean binary."""
    head = data[:_SNIFF]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in head


def decode(data: bytes, path: Path) -> tuple[str, str, list[str]]:
    """Decode bytes: UTF-8 (BOM stripped), UTF-16 with a BOM, else cp1252 with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as err:
            raise BadInput(f"not valid UTF-16 at byte {err.start}", where=path,
                           fix="save the file as UTF-8") from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", []
        except UnicodeDecodeError as err:
            raise BadInput(f"starts with a UTF-8 byte-order mark but is not UTF-8 "
                           f"(byte {err.start + 3})", where=path,
                           fix="save the file as UTF-8") from None
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as err:
        first_bad = err.start
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        # the five bytes cp1252 leaves undefined: latin-1 maps every byte, so nothing is lost
        text = data.decode("latin-1")
        return text, "latin-1", [f"{path}: not UTF-8 (first bad byte at offset {first_bad}); "
                                 "read as Latin-1: check accented characters"]
    return text, "cp1252", [f"{path}: not UTF-8 (first bad byte at offset {first_bad}); read as "
                            "Windows-1252 (cp1252): check accented characters"]


def read_text(path: str | Path, *, what: str = "file") -> TextFile:
    """Read and decode a text file; normalise line ends; refuse empty and binary files."""
    p = check_file(path, what=what)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise BadInput(f"cannot read the file ({err.strerror})", where=p,
                       fix="check its permissions") from None
    if not data.strip():
        raise BadInput("the file is empty", where=p, fix="export the data again")
    if looks_binary(data):
        raise BadInput("the file is binary, not text", where=p,
                       fix="give a text export (or use the importer for this format: "
                           "`alignuq import table` for .xlsx, `alignuq import pew` for .sav)")
    text, encoding, warnings = decode(data, p)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise BadInput("the file is empty", where=p, fix="export the data again")
    return TextFile(path=p, text=text, encoding=encoding, warnings=warnings)
