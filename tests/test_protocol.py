"""The engine protocol: round trips of every message, and malformed lines (BAD_INPUT, never a crash)."""

from __future__ import annotations

import json

import pytest

from common import errors
from engine.events import Progress
from engine.protocol import (
    PROTOCOL_VERSION,
    Error,
    Hello,
    LogNote,
    ProgressNote,
    ProtocolError,
    Request,
    Result,
    decode_message,
    decode_request,
    encode,
    is_final,
)


@pytest.mark.parametrize("message", [
    Hello(protocol=PROTOCOL_VERSION, device="cuda", cuda_devices=["NVIDIA H100"], torch="2.5.1",
          transformers="4.46.0", python="3.11.9", pid=42, host="gpu01"),
    ProgressNote(id="r1", progress=Progress(run_id="ds-model-1234", done=3, total=10, rate=1.5,
                                            eta_s=4.7, phase="running")),
    ProgressNote(id=7, progress=Progress.loading()),
    LogNote(level="warning", message="label spelling ' A' dropped", id="r1"),
    LogNote(level="info", message="not tied to a request"),
    Result(id="r2", result={"run_id": "x", "n_done": 3, "nested": [1, 2.5, None]}),
    Error(id="r3", code=errors.OOM, what="out of memory", fix="lower --batch-tokens",
          data={"n_done": 1}),
    Error(id=None, code=errors.BAD_INPUT, what="line is not JSON"),
    Error(id="r4", code=errors.BAD_INPUT, what="bad cell", where="data.csv", line=7, fix="fix it"),
])
def test_engine_messages_round_trip(message) -> None:
    line = encode(message)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert json.loads(line)["type"] == message.type
    assert decode_message(line) == message
    assert decode_message(line.encode()) == message


def test_a_progress_note_is_the_runners_progress_flat_next_to_its_id() -> None:
    progress = Progress(run_id="ds-m-1", done=3, total=10, rate=1.5, eta_s=4.7, phase="running")
    assert json.loads(encode(ProgressNote(id="r1", progress=progress))) == {
        "type": "progress", "id": "r1", "run_id": "ds-m-1", "done": 3, "total": 10, "rate": 1.5,
        "eta_s": 4.7, "phase": "running"}


def test_requests_round_trip_and_type_is_optional() -> None:
    req = Request(id="r1", method="run", params={"spec": {"dataset": "d", "model": "m"}})
    assert decode_request(encode(req)) == req
    assert decode_request('{"id": 5, "method": "status"}') == Request(id=5, method="status", params={})
    assert decode_request('{"id": "c", "method": "cancel", "params": null}').params == {}


def test_an_error_travels_whole_and_gets_its_codes_fix() -> None:
    sent = errors.AlignuqError("no such model", code=errors.MODEL_NOT_FOUND, where="/m",
                               data={"tried": ["/m"]})
    err = decode_message(encode(Error.of(sent, "r1")))
    assert err.fix == errors.DEFAULT_FIXES[errors.MODEL_NOT_FOUND]
    back = err.to_error()
    assert (back.code, back.what, back.where, back.fix, back.data, back.message) == (
        sent.code, sent.what, sent.where, sent.fix, sent.data, sent.message)
    assert is_final(err) and is_final(Result(id="r1")) and not is_final(LogNote("info", "x"))


def test_non_finite_floats_and_odd_values_encode_as_valid_json() -> None:
    line = encode(ProgressNote(id="r", progress=Progress(run_id="x", done=1, total=2,
                                                         rate=float("nan"), eta_s=float("inf"))))
    data = json.loads(line)
    assert data["rate"] is None and data["eta_s"] is None
    import numpy as np

    data = json.loads(encode(Result(id="r", result={"a": np.float32(0.5), "b": (1, 2),
                                                    "c": np.int64(3), "p": object()})))
    assert data["result"]["a"] == 0.5 and data["result"]["b"] == [1, 2] and data["result"]["c"] == 3
    assert isinstance(data["result"]["p"], str)


def test_large_lines_round_trip() -> None:
    big = "x" * (8 * 1024 * 1024)
    msg = LogNote(level="info", message=big, id="r1")
    assert decode_message(encode(msg)).message == big


@pytest.mark.parametrize("line, fragment, rid", [
    ("not json", "not JSON", None),
    ("", "empty line", None),
    ("   \n", "empty line", None),
    ("[1, 2]", "JSON object", None),
    ('"status"', "JSON object", None),
    ('{"method": "status"}', "'id'", None),
    ('{"id": true, "method": "status"}', "'id'", None),
    ('{"id": "", "method": "status"}', "'id'", None),
    ('{"id": [1], "method": "status"}', "'id'", None),
    ('{"id": "a"}', "'method'", "a"),
    ('{"id": "a", "method": 3}', "'method'", "a"),
    ('{"id": "a", "method": "explode"}', "unknown method", "a"),
    ('{"id": "a", "method": "run", "params": [1]}', "'params'", "a"),
    ('{"id": "a", "type": "result", "method": "run"}', "expected a request", "a"),
    ("[" * 100000 + "]" * 100000, "", None),
])
def test_malformed_requests_raise_protocol_errors_with_bad_input(line, fragment, rid) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_request(line)
    assert fragment in caught.value.message
    assert caught.value.request_id == rid
    err = caught.value.to_message()
    assert err.code == errors.BAD_INPUT and err.id == rid and err.fix
    json.loads(encode(err))  # the answer itself is a valid protocol line


def test_non_utf8_bytes_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        decode_request(b'{"id": "a", "method": "status", "x": "\xff"}')


@pytest.mark.parametrize("line", [
    '{"type": "progress", "id": "r1", "total": 3}',          # no done
    '{"type": "progress", "done": 1, "total": 3}',           # no id
    '{"type": "progress", "id": "r1", "done": true, "total": 3}',
    '{"type": "error", "id": "r1", "code": "NOPE", "message": "x"}',
    '{"type": "error", "id": "r1", "message": "x"}',
    '{"type": "hello"}',
    '{"type": "log", "level": "info"}',
    '{"type": "mystery", "id": "r1"}',
    '{"no": "type"}',
])
def test_malformed_engine_messages_are_refused(line) -> None:
    with pytest.raises(ProtocolError):
        decode_message(line)
