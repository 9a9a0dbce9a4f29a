"""``runhub.forms`` and ``request(form=..., files=...)``: multipart bodies for exchanges."""

from __future__ import annotations

import email.parser
import email.policy

import httpx
import pytest

from runhub.backend import FormFile, is_idempotent, request
from runhub.forms import encode_multipart, parse_multipart
from runhub.policy import Redactor
from runhub.render import render_request


def _parts_by_the_stdlib(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return [
        (
            str(p.get_param("name", header="content-disposition")),
            p.get_filename(),
            p.get_payload(decode=True),
        )
        for p in message.iter_parts()
    ]


def test_a_form_with_files_is_multipart_with_every_part_in_order() -> None:
    files = [
        FormFile("workflow_attachment", "echo.cwl", b"cwlVersion: v1.2\n"),
        FormFile("workflow_attachment", "sub/tool.cwl", b"\x00\xffbinary", "application/x-yaml"),
    ]
    req = request(
        "POST",
        "https://wes.test/runs",
        form=[("workflow_url", "echo.cwl"), ("workflow_params", '{"n": 1}')],
        files=files,
    )
    content_type = req.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert _parts_by_the_stdlib(content_type, req.content) == [
        ("workflow_url", None, b"echo.cwl"),
        ("workflow_params", None, b'{"n": 1}'),
        ("workflow_attachment", "echo.cwl", b"cwlVersion: v1.2\n"),
        ("workflow_attachment", "sub/tool.cwl", b"\x00\xffbinary"),
    ]
    assert req.headers["Content-Length"] == str(len(req.content))
    # a create without a key: the driver must not repeat it after an ambiguous failure
    assert not is_idempotent(req)


def test_a_form_without_files_is_still_multipart() -> None:
    req = request("POST", "https://wes.test/runs", form={"workflow_url": "https://x/wf.cwl"})
    assert req.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert [
        (p.field, p.text) for p in parse_multipart(req.headers["Content-Type"], req.content)
    ] == [("workflow_url", "https://x/wf.cwl")]


def test_names_with_quotes_and_newlines_cannot_break_out_of_their_header() -> None:
    body, content_type = encode_multipart(
        {'a"b\r\nX-Injected: 1': "v"}, [FormFile("f", 'evil"\r\n.cwl', b"x")], boundary="B"
    )
    assert b"X-Injected: 1\r\n" not in body
    parts = parse_multipart(content_type, body)
    assert [p.field for p in parts] == ["a%22b%0D%0AX-Injected: 1", "f"]
    assert parts[1].filename == "evil%22%0D%0A.cwl"


def test_the_body_is_bytes_so_a_retry_and_a_dry_run_can_read_it_again() -> None:
    req = request("POST", "https://wes.test/runs", form={"tags": '{"k": "v"}'})
    first = b"".join(req.stream)  # type: ignore[union-attr]
    assert first == req.content == b"".join(req.stream)  # type: ignore[union-attr]
    shown = render_request(req, Redactor())
    assert 'name="tags"' in shown
    assert '{"k": "v"}' in shown
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=r.read()))
    with httpx.Client(transport=transport) as http:
        assert http.send(req).content == req.content
        assert http.send(req).content == req.content


def test_json_and_a_form_together_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        request("POST", "https://wes.test/runs", json_body={}, form={"a": "b"})


def test_file_parts_never_show_their_content_in_a_repr() -> None:
    assert repr(FormFile("f", "secret.txt", b"token=abc123")) == (
        "FormFile('f', 'secret.txt', 12 bytes)"
    )
