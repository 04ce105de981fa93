"""``multipart/form-data`` bodies (RFC 7578), read whole: fields by name, files with their filename.

Only what a form upload needs: each part's ``Content-Disposition`` name and filename and its
``Content-Type``; anything malformed is a :class:`FormError` with a message for the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP

MAX_PARTS = 64
MAX_PART_HEAD = 8192


class FormError(ValueError):
    pass


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str = "text/plain"

    @property
    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError(f"field {self.name!r} is not UTF-8 text") from None


def _params(header: str) -> Message:
    message = Message()
    message["Content-Type"] = header
    return message


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type, or a FormError."""
    message = _params(content_type)
    if message.get_content_type() != "multipart/form-data":
        raise FormError(f"expected Content-Type multipart/form-data, got {content_type.split(';')[0]!r}")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 200:
        raise FormError("the multipart Content-Type has no usable boundary")
    return boundary.encode("latin-1", "replace")


def parse_form(content_type: str, body: bytes) -> list[Part]:
    """The parts of a form body, in order."""
    delimiter = b"--" + boundary_of(content_type)
    start = body.find(delimiter)
    if start < 0:
        raise FormError("the body does not contain the multipart boundary")
    parts: list[Part] = []
    at = start + len(delimiter)
    while True:
        if body[at:at + 2] == b"--":
            return parts
        if body[at:at + 2] != b"\r\n":
            raise FormError("a multipart boundary is not followed by a line break")
        end = body.find(b"\r\n" + delimiter, at + 2)
        if end < 0:
            raise FormError("the multipart body ends without its closing boundary")
        if len(parts) == MAX_PARTS:
            raise FormError(f"more than {MAX_PARTS} form fields")
        parts.append(_part(body[at + 2:end]))
        at = end + 2 + len(delimiter)


def _part(raw: bytes) -> Part:
    split = raw.find(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):
        head, data = b"", raw[2:]
    elif 0 <= split <= MAX_PART_HEAD:
        head, data = raw[:split], raw[split + 4:]
    else:
        raise FormError("a form part has no header block")
    try:
        headers = BytesHeaderParser(policy=HTTP).parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("Content-Disposition")
        if disposition is None:
            raise FormError("a form part has no Content-Disposition")
        message = Message()
        message["Content-Disposition"] = str(disposition)
        if message.get_content_disposition() != "form-data":
            raise FormError("a form part's Content-Disposition is not form-data")
        name = message.get_param("name", header="content-disposition")
        filename = message.get_filename()
        content_type = str(headers.get("Content-Type") or ("application/octet-stream" if filename else "text/plain"))
    except FormError:
        raise
    except Exception as exc:  # the email package's header parser has its own failures (deep nesting: RecursionError)
        raise FormError(f"a form part's headers cannot be parsed ({type(exc).__name__})") from None
    if not isinstance(name, str) or not name:
        raise FormError("a form part has no name")
    return Part(name, data, filename, content_type)


def fields(parts: list[Part]) -> dict[str, list[Part]]:
    """Parts grouped by name (a name may repeat, as ``timestamp_granularities[]`` does)."""
    grouped: dict[str, list[Part]] = {}
    for part in parts:
        grouped.setdefault(part.name, []).append(part)
    return grouped
