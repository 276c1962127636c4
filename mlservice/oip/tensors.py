"""Tensors of the Open Inference Protocol: datatypes, shapes, and their JSON and raw (binary) encodings.

Transport-neutral: the REST door hands in JSON ``data`` (flat or nested, row-major), the gRPC door
typed ``contents`` or ``raw_input_contents``; both become NumPy arrays here (text for ``BYTES``) and
go back out the same way. Raw encoding as the specification and every server that speaks it
(MLServer, KServe, Triton): little-endian, row-major, no padding; ``BYTES`` elements each prefixed
with their length as a 4-byte little-endian unsigned integer. A malformed tensor is ``InvalidInput``
naming the tensor.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlservice.errors import InvalidInput

BYTES = "BYTES"
# datatype -> NumPy dtype (little-endian for raw contents)
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
DATATYPES = (*DTYPES, BYTES)
MAX_DIMS = 8


@dataclass
class Tensor:
    """One input or output tensor: its name, datatype, shape and values.

    ``data`` is what the door received (a JSON list, typed contents, raw bytes) until ``decoded``
    turns it into an array: a NumPy array of the datatype's dtype, or a list of ``str`` for ``BYTES``.
    """

    name: str
    datatype: str
    shape: list[int]
    data: Any = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """How many elements the shape holds."""
        return math.prod(self.shape)


def check_header(name: Any, datatype: Any, shape: Any) -> tuple[str, str, list[int]]:
    """A tensor's name, datatype and shape as the protocol allows them.

    Raises:
        InvalidInput: no name, an unknown datatype (BF16 has no NumPy type), or a shape that is not a
            short list of non-negative integers.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput("every tensor needs a name")
    if datatype not in DATATYPES:
        shown = str(datatype)[:20]
        raise InvalidInput(f"tensor '{name}': datatype '{shown}' is not supported; use one of {', '.join(DATATYPES)}")
    if (
        not isinstance(shape, (list, tuple))
        or not 0 < len(shape) <= MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInput(f"tensor '{name}': shape must be a list of 1 to {MAX_DIMS} non-negative integers")
    return name, datatype, [int(d) for d in shape]


def _flatten(data: Any) -> list:
    """Nested lists (the "natural" row-major form the specification allows) as one flat list."""
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    flat: list = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def _text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"tensor '{name}': BYTES elements must be UTF-8 text") from None
    raise InvalidInput(f"tensor '{name}': BYTES elements must be strings")


def from_values(tensor: Tensor, values: Any) -> np.ndarray | list[str]:
    """A tensor's values from JSON ``data`` (flat or nested) or typed contents, checked against its shape.

    Returns:
        A flat NumPy array of the datatype's dtype, or a flat list of ``str`` for ``BYTES``.
    """
    flat = _flatten(values) if isinstance(values, list) else list(values)
    if len(flat) != tensor.size:
        raise InvalidInput(
            f"tensor '{tensor.name}': shape {tensor.shape} holds {tensor.size} values, but {len(flat)} were sent"
        )
    if tensor.datatype == BYTES:
        return [_text(value, tensor.name) for value in flat]
    try:
        return np.asarray(flat, dtype=DTYPES[tensor.datatype])
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(f"tensor '{tensor.name}': {tensor.datatype} data must be numbers") from None


def from_raw(tensor: Tensor, raw: bytes) -> np.ndarray | list[str]:
    """A tensor's values from its raw (binary) contents, checked against its shape."""
    if tensor.datatype == BYTES:
        values = _split_bytes(raw, tensor.name)
        if len(values) != tensor.size:
            raise InvalidInput(
                f"tensor '{tensor.name}': shape {tensor.shape} holds {tensor.size} values, but {len(values)} were sent"
            )
        return [_text(value, tensor.name) for value in values]
    dtype = DTYPES[tensor.datatype]
    if len(raw) != tensor.size * dtype.itemsize:
        raise InvalidInput(
            f"tensor '{tensor.name}': shape {tensor.shape} of {tensor.datatype} needs {tensor.size * dtype.itemsize} "
            f"bytes of raw contents, got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype)


def _split_bytes(raw: bytes, name: str) -> list[bytes]:
    values, offset, view = [], 0, memoryview(raw)
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"tensor '{name}': raw BYTES contents end inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidInput(f"tensor '{name}': raw BYTES contents are shorter than their length prefixes say")
        values.append(bytes(view[offset : offset + length]))
        offset += length
    return values


def datatype_of(array: np.ndarray) -> str:
    """The protocol's datatype of an output array (labels: INT64, FP64, BOOL, or BYTES for text)."""
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64" if kind == "i" or array.dtype.itemsize < 8 else "UINT64"
    if kind == "f":
        return "FP64" if array.dtype.itemsize == 8 else ("FP32" if array.dtype.itemsize == 4 else "FP16")
    return BYTES


def as_output(array: np.ndarray) -> tuple[str, np.ndarray | list[str]]:
    """(datatype, flat values) of an output: a contiguous little-endian array, or text for BYTES."""
    datatype = datatype_of(array)
    if datatype == BYTES:
        return datatype, [str(value) for value in array.ravel().tolist()]
    dtype = DTYPES["INT64"] if datatype == "INT64" else array.dtype.newbyteorder("<")
    return datatype, np.ascontiguousarray(array, dtype=dtype).ravel()


def to_raw(values: np.ndarray | Sequence[str]) -> bytes:
    """Raw contents of flat output values (as ``as_output`` gives them)."""
    if isinstance(values, np.ndarray):
        return values.tobytes()
    return b"".join(struct.pack("<I", len(encoded)) + encoded for encoded in (str(v).encode() for v in values))
