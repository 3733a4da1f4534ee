"""The protocol's JSON tensors read and written the same with orjson and with the standard library,
non-finite values included (orjson would write null for NaN: the standard library writes those)."""

from __future__ import annotations

import json

import pytest

np = pytest.importorskip("numpy")

from bundle.serve import protocol  # noqa: E402

WRITERS = ["orjson", "json"] if protocol.orjson is not None else ["json"]


@pytest.fixture(params=WRITERS)
def writer(request, monkeypatch):
    if request.param == "json":
        monkeypatch.setattr(protocol, "orjson", None)
    return request.param


def test_json_outputs_round_trip_to_the_same_float32(writer):
    pred = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    label = np.array([[1, 2]], np.int64)
    body, header = protocol.encode_response({"id": "r1"}, "m", "1", [("pred", pred), ("label", label)])
    out = json.loads(body)
    assert header is None and out["id"] == "r1" and out["model_name"] == "m"
    assert out["outputs"][0]["shape"] == [2, 3] and out["outputs"][1]["datatype"] == "INT64"
    assert np.array_equal(np.asarray(out["outputs"][0]["data"], np.float32).reshape(2, 3), pred)
    assert out["outputs"][1]["data"] == [1, 2]


def test_non_finite_outputs_are_written_as_json_writes_them(writer):
    pred = np.array([[np.nan, np.inf, 1.0]], np.float32)
    body, _ = protocol.encode_response({}, "m", "1", [("pred", pred), ("other", np.ones((1, 2), np.float32))])
    assert b"NaN" in body and b"Infinity" in body and b"null" not in body
    assert json.loads(body)["outputs"][1]["data"] == [1.0, 1.0]


def test_requests_with_nan_are_read_and_bad_json_says_why(writer):
    _, inputs = protocol.decode_request(b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", '
                                        b'"data": [NaN, 0.5]}]}', None)
    assert np.isnan(inputs["x"][0]) and inputs["x"][1] == 0.5
    with pytest.raises(protocol.RequestError, match="not JSON: Expecting"):
        protocol.decode_request(b'{"inputs": [', None)


@pytest.mark.parametrize("outputs", [[{}], [{"name": 3}], ["pred"]], ids=["no-name", "not-text", "not-an-object"])
def test_an_output_request_without_a_name_says_so(outputs):
    with pytest.raises(protocol.RequestError, match=r"outputs\[0\] has no name"):
        protocol.encode_response({"outputs": outputs}, "m", "1", [("pred", np.zeros(2, np.float32))])
