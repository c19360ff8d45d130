"""Request/response bodies: the mlinfra `/predict` shape and Open Inference Protocol (KServe v2)
JSON tensors. Malformed input raises BadRequest (400), UnsupportedMedia (415) or InvalidInput
(422) with a message naming the field; nothing is coerced into something the caller did not
send (no bool-as-number, no integer wrap-around, no reshaping of nested data)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from mlinfra.serving.errors import BadRequest, InvalidInput, UnsupportedMedia

# Open Inference Protocol tensor datatypes accepted as input (BYTES/BOOL make no sense as
# model features here).
V2_INPUT_DTYPES: dict[str, np.dtype[Any]] = {
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
}
_V2_BY_NUMPY = {v: k for k, v in V2_INPUT_DTYPES.items()} | {np.dtype(np.bool_): "BOOL"}


def v2_datatype(dtype: np.dtype[Any]) -> str:
    return _V2_BY_NUMPY.get(dtype, "BYTES")


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, list) and any(_has_bool(v) for v in value)


def _refuse_bools(body: bytes, value: Any, field: str) -> None:
    # numpy turns True into 1.0 silently. The byte scan keeps the common case free: only a
    # body that spells true/false somewhere pays for the walk over the value.
    if (b"true" in body or b"false" in body) and _has_bool(value):
        raise InvalidInput(f"{field} must contain only numbers (got a boolean)")


def to_matrix(value: Any, field: str, dtype: np.dtype[Any], n_features: int | None) -> np.ndarray:
    """A list of equal-length numeric rows -> 2-D array of the model's dtype, or 422."""
    try:
        arr = np.array(value)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise InvalidInput(f"{field} must be equal-length rows of numbers") from exc
    # kind i/u/f only: strings ("1.5"), booleans and objects (ints beyond 64 bits) are refused.
    if arr.dtype.kind not in "iuf":
        raise InvalidInput(f"{field} must contain only numbers (got {arr.dtype.kind!r} data)")
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidInput(f"{field} must be a non-empty list of rows, got shape {list(arr.shape)}")
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidInput(f"{field}: the model expects {n_features} features per row, got {arr.shape[1]}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidInput(f"{field} must not contain NaN or infinity")
    out = arr.astype(dtype, copy=False)
    if out.dtype.kind == "f" and arr.dtype.kind in "iuf" and not np.isfinite(out).all():
        raise InvalidInput(f"{field} has values beyond the range of the model's {out.dtype}")
    return out


def parse_predict(body: bytes, dtype: np.dtype[Any], n_features: int | None) -> tuple[np.ndarray, bool]:
    """Returns (rows, single) where single means the `features` form."""
    doc = parse_json(body)
    if isinstance(doc, dict):
        if "instances" in doc and "features" in doc:
            raise BadRequest('send either "instances" (rows) or "features" (one row), not both')
        if "instances" in doc:
            _refuse_bools(body, doc["instances"], "instances")
            return to_matrix(doc["instances"], "instances", dtype, n_features), False
        if "features" in doc:
            feats = doc["features"]
            if not isinstance(feats, list) or (feats and isinstance(feats[0], list)):
                raise InvalidInput("features must be one flat list of numbers (one row)")
            _refuse_bools(body, feats, "features")
            return to_matrix([feats], "features", dtype, n_features), True
    raise InvalidInput('body must be {"instances": [[...], ...]} or {"features": [...]}')


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def encode_predict(y: np.ndarray, single: bool) -> bytes:
    if single:
        return orjson.dumps({"prediction": _jsonable(y[0])})
    return orjson.dumps({"predictions": y.tolist()})


def _v2_tensor(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise InvalidInput('body must be an inference request: {"inputs": [{...}]}')
    inputs = doc["inputs"]
    if len(inputs) != 1:
        raise InvalidInput(f"this model takes exactly one input tensor, got {len(inputs)}")
    if not isinstance(inputs[0], dict):
        raise InvalidInput(
            'inputs[0] must be a tensor object {"name": ..., "shape": [...], "datatype": ..., "data": [...]}'
        )
    return inputs[0]


def _check_range(flat: np.ndarray, datatype: str) -> None:
    declared = V2_INPUT_DTYPES[datatype]
    if declared.kind in "iu":
        if flat.dtype.kind == "f":
            raise InvalidInput(f"inputs[0].data has fractional numbers but datatype is {datatype}")
        info = np.iinfo(declared)
        lo, hi = int(flat.min()), int(flat.max())
        if lo < info.min or hi > info.max:
            raise InvalidInput(
                f"inputs[0].data has values outside {datatype}'s range [{info.min}, {info.max}] (min {lo}, max {hi})"
            )
    elif not np.isfinite(flat.astype(declared)).all():
        raise InvalidInput(f"inputs[0].data has values beyond the range of {datatype}")


def parse_v2_infer(
    body: bytes, headers: dict[str, str], dtype: np.dtype[Any], n_features: int | None
) -> tuple[np.ndarray, Any]:
    """Returns (rows, request id or None)."""
    if "inference-header-content-length" in headers:
        raise UnsupportedMedia("the binary tensor extension is not supported; send JSON tensors (`data`)")
    doc = parse_json(body)
    tensor = _v2_tensor(doc)
    params = tensor.get("parameters")
    if isinstance(params, dict) and "binary_data_size" in params:
        raise UnsupportedMedia("the binary tensor extension is not supported; send JSON tensors")
    datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
    if datatype not in V2_INPUT_DTYPES:
        raise InvalidInput(f"inputs[0].datatype must be one of {', '.join(V2_INPUT_DTYPES)}, got {datatype!r}")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise InvalidInput(f"inputs[0].shape must be [rows, features] of positive ints, got {shape!r}")
    if not isinstance(data, list):
        raise InvalidInput("inputs[0].data must be a list (row-major, flat or nested)")
    _refuse_bools(body, data, "inputs[0].data")
    try:
        flat = np.array(data)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("inputs[0].data must be a regular nested list of numbers") from exc
    if flat.dtype.kind not in "iuf":
        raise InvalidInput(f"inputs[0].data must contain only numbers for datatype {datatype}")
    if flat.size != math.prod(shape):
        raise InvalidInput(f"inputs[0].data has {flat.size} elements but shape {shape} needs {math.prod(shape)}")
    # Row-major flat data, or nesting that is exactly the declared shape: [[1, 2], [3, 4]]
    # with shape [4, 1] would otherwise be silently re-cut into other rows.
    if flat.ndim > 1 and list(flat.shape) != shape:
        raise InvalidInput(
            f"inputs[0].data is nested as {list(flat.shape)} but shape is {shape}; "
            "send flat row-major data or nest it exactly as the shape says"
        )
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        raise InvalidInput("inputs[0].data must not contain NaN or infinity")
    _check_range(flat, datatype)
    declared = V2_INPUT_DTYPES[datatype]
    matrix = flat.reshape(shape if len(shape) == 2 else [1, shape[0]])
    return to_matrix(matrix.astype(declared), "inputs[0].data", dtype, n_features), doc.get("id")


def encode_v2_infer(model_name: str, y: np.ndarray, request_id: Any) -> bytes:
    out: dict[str, Any] = {
        "model_name": model_name,
        "outputs": [
            {
                "name": "output-0",
                "shape": list(y.shape),
                "datatype": v2_datatype(y.dtype),
                "data": y.ravel().tolist(),
            }
        ],
    }
    if request_id is not None:
        out["id"] = request_id
    return orjson.dumps(out)
