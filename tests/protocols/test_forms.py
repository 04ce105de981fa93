"""``multipart/form-data`` parsing: what real clients send, and anything else refused with a FormError."""

from __future__ import annotations

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stenod.protocols.forms import FormError, fields, parse_form


def _encoded(data: dict, files: dict) -> tuple[str, bytes]:
    request = httpx2.Request("POST", "http://localhost/", data=data, files=files)
    return request.headers["Content-Type"], request.read()


def test_a_client_encoded_form_reads_back() -> None:
    audio = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"
    content_type, body = _encoded({"model": "whisper-1", "timestamp_granularities[]": ["word", "segment"],
                                   "prompt": "Grüße, «quoted»"}, {"file": ("talk.wav", audio, "audio/wav")})
    form = fields(parse_form(content_type, body))
    assert form["file"][0].data == audio and form["file"][0].filename == "talk.wav"
    assert form["file"][0].content_type == "audio/wav"
    assert form["model"][0].text == "whisper-1" and form["prompt"][0].text == "Grüße, «quoted»"
    assert [p.text for p in form["timestamp_granularities[]"]] == ["word", "segment"]


@pytest.mark.parametrize(("content_type", "body", "message"), [
    ("application/json", b"{}", "expected Content-Type multipart/form-data"),
    ("multipart/form-data", b"", "no usable boundary"),
    ("multipart/form-data; boundary=b", b"nothing here", "does not contain"),
    ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx", "closing"),
    ("multipart/form-data; boundary=b", b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "Disposition"),
    ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "no name"),
    ("multipart/form-data; boundary=b", b"--bx", "line break"),
    ("multipart/form-data; boundary=b",
     b"--b\r\nContent-Disposition: form-data; name=a; x=" + b"(" * 4000 + b"\r\n\r\nx\r\n--b--", "cannot be parsed"),
])
def test_malformed_forms_say_what_is_wrong(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_form(content_type, body)


def test_too_many_parts_are_refused() -> None:
    content_type, body = _encoded({f"f{i}": "x" for i in range(64)}, {"file": ("a.wav", b"x")})
    with pytest.raises(FormError, match="more than 64"):
        parse_form(content_type, body)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["b", "xyz", "----WebKitFormBoundary7MA4YWxk"]))
def test_any_body_parses_or_is_a_form_error(noise: bytes, boundary: str) -> None:
    delimiter = f"--{boundary}".encode()
    head = delimiter + b'\r\nContent-Disposition: form-data; name="'
    for body in (noise, delimiter + noise, delimiter + b"\r\n" + noise + b"\r\n" + delimiter + b"--",
                 head + noise + b"\r\n" + delimiter + b"--"):
        try:
            parts = parse_form(f"multipart/form-data; boundary={boundary}", body)
        except FormError:
            continue
        assert all(isinstance(p.name, str) and isinstance(p.data, bytes) for p in parts)
