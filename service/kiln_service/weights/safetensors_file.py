"""Structural checks of a safetensors file, made before any byte of it is trusted.

A safetensors file is an 8-byte little-endian header length, a JSON header that maps each
tensor name to its dtype, shape and byte range, and then the tensor data. The checks here
catch the damage seen in practice (a git-lfs pointer saved in place of the weights, an
interrupted copy, bytes appended after the data, a mangled header) and turn each into an
error that names the file, the fault and the fix, without reading the data itself.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from kiln_service.weights.errors import WeightsError

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
MAX_HEADER_BYTES = 100 * 1024 * 1024
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
REBAKE = "Bake the model again with `kiln bake` from an intact source."


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def element_count(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class SafetensorsLayout:
    path: Path
    header_bytes: int
    data_start: int
    tensors: dict[str, TensorInfo]

    @property
    def data_bytes(self) -> int:
        return max((t.end for t in self.tensors.values()), default=0)


def read_layout(path: Path, *, expected_size: int | None = None) -> SafetensorsLayout:
    """Parse and check the header of `path`; raise WeightsError on any fault."""
    if not path.is_file():
        raise WeightsError(path, "the weights file is missing", REBAKE)

    actual_size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(8)
        if (head + stream.read(len(LFS_POINTER_PREFIX))).startswith(LFS_POINTER_PREFIX):
            raise WeightsError(
                path,
                f"this is a git-lfs pointer file ({actual_size} bytes), not the weights",
                "Run `git lfs pull` in the source repository, then bake the model again.",
            )

        if expected_size is not None and actual_size != expected_size:
            raise _size_error(path, expected_size, actual_size)
        if len(head) < 8:
            raise WeightsError(
                path, f"the file is {actual_size} bytes, too short for a header", REBAKE
            )

        (header_bytes,) = struct.unpack("<Q", head)
        if header_bytes > min(MAX_HEADER_BYTES, actual_size - 8):
            raise WeightsError(
                path,
                f"the header claims {header_bytes} bytes but the file has {actual_size} bytes "
                "in all, so the header is corrupt or the file is truncated",
                REBAKE,
            )
        stream.seek(8)
        header_text = stream.read(header_bytes)

    tensors = _parse_header(path, header_text)
    layout = SafetensorsLayout(path, header_bytes, 8 + header_bytes, tensors)
    expected_end = layout.data_start + layout.data_bytes
    if actual_size < expected_end:
        raise WeightsError(
            path,
            f"the file is truncated: expected {expected_end} bytes, found {actual_size} bytes",
            REBAKE,
        )
    if actual_size > expected_end:
        raise WeightsError(
            path,
            f"the file has {actual_size - expected_end} bytes of trailing data after the last "
            f"tensor (expected {expected_end} bytes, found {actual_size} bytes)",
            REBAKE,
        )
    return layout


def _size_error(path: Path, expected: int, actual: int) -> WeightsError:
    if actual < expected:
        problem = f"the file is truncated: expected {expected} bytes, found {actual} bytes"
    else:
        problem = (
            f"the file is larger than the manifest says: expected {expected} bytes, "
            f"found {actual} bytes"
        )
    return WeightsError(path, problem, REBAKE)


def _parse_header(path: Path, header_text: bytes) -> dict[str, TensorInfo]:
    try:
        header = json.loads(header_text)
    except (UnicodeDecodeError, ValueError) as error:
        raise WeightsError(path, f"the header is not valid JSON ({error})", REBAKE) from error
    if not isinstance(header, dict):
        raise WeightsError(path, "the header is not a JSON object", REBAKE)

    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
            ):
                raise WeightsError(
                    path, "the header's __metadata__ is not a map of strings to strings", REBAKE
                )
            continue
        tensors[name] = _parse_entry(path, name, entry)

    position = 0
    for tensor in sorted(tensors.values(), key=lambda t: t.start):
        if tensor.start != position:
            raise WeightsError(
                path,
                f"tensor {tensor.name!r} starts at byte {tensor.start}, expected {position}: "
                "the header's offsets leave a gap or overlap",
                REBAKE,
            )
        position = tensor.end
    return tensors


def _parse_entry(path: Path, name: str, entry: object) -> TensorInfo:
    try:
        assert isinstance(entry, dict)
        dtype = str(entry["dtype"])
        shape = tuple(int(n) for n in entry["shape"])
        start, end = (int(n) for n in entry["data_offsets"])
    except (AssertionError, KeyError, TypeError, ValueError) as error:
        raise WeightsError(
            path, f"the header entry for tensor {name!r} is malformed: {entry!r}", REBAKE
        ) from error

    if dtype not in DTYPE_BYTES:
        raise WeightsError(path, f"tensor {name!r} has unknown dtype {dtype!r}", REBAKE)
    if any(n < 0 for n in shape) or not 0 <= start <= end:
        raise WeightsError(path, f"tensor {name!r} has a negative shape or range", REBAKE)

    expected = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - start != expected:
        raise WeightsError(
            path,
            f"tensor {name!r} of shape {list(shape)} and dtype {dtype} needs {expected} bytes "
            f"but its range holds {end - start}",
            REBAKE,
        )
    return TensorInfo(name, dtype, shape, start, end)
