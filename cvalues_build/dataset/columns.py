"""Column operations the streaming build shares: Python's own ``str.strip`` and the content-hash
ids of ``core.records.content_id``, over whole Arrow columns.

The ids must stay byte-for-byte what ``content_id`` gives, so that a build is identical to the
row build's: the same bytes are hashed (the parts joined by "\\x1f", UTF-8), only without a
Python object per part. Each id also comes back as a 64-bit key (the id's 16 hex digits as a
number), which is what the duplicate and leakage checks keep instead of texts.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.records import content_id

# str.strip() with no argument removes exactly these (str.isspace), which is wider than Unicode's
# White_Space: it includes the separators \x1c-\x1f.
PY_WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
SEPARATOR = "\x1f"  # content_id's
ID_CHARS = 16  # content_id's default length: 16 hex digits, 64 bits
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE = np.zeros(256, dtype=np.uint64)
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint64)
assert content_id("a", "b") == hashlib.sha256(b"a\x1fb").hexdigest()[:ID_CHARS]  # the scheme copied here


def strip(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``str.strip()`` of every value."""
    return pc.utf8_trim(column, characters=PY_WHITESPACE)


def _values(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Buffer | None]:
    """The n + 1 offsets and the data buffer of a string or binary column without nulls."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.null_count:
        raise ValueError("a null value cannot be hashed")
    dtype = np.int64 if pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(column.buffers()[1], dtype=dtype)[column.offset: column.offset + len(column) + 1]
    return offsets, column.buffers()[2]


def _sha256_prefixes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The first 8 bytes of each value's sha256, as an (n, 8) uint8 array. The one Python loop of
    the build's hot path: a bytes slice and a C hash call per value."""
    offsets, buffer = _values(column)
    data = buffer.to_pybytes() if buffer is not None else b""
    bounds = offsets.tolist()
    sha256 = hashlib.sha256
    digests = b"".join([sha256(data[a:b]).digest() for a, b in zip(bounds, bounds[1:], strict=False)])
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32)[:, :ID_CHARS // 2]


def _keys(prefixes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(prefixes).view(">u8").ravel().astype(np.uint64)


def id_digests(*parts: pa.Array | pa.ChunkedArray | str) -> np.ndarray:
    """The 8 bytes behind ``content_id(*parts)`` of every row, as an (n, 8) uint8 array. A part
    is a column or a constant string."""
    return _sha256_prefixes(pc.binary_join_element_wise(*parts, SEPARATOR))


def content_ids(*parts: pa.Array | pa.ChunkedArray | str) -> tuple[pa.Array, np.ndarray]:
    """``content_id(*parts)`` for every row, as a string column, and the same ids as uint64 keys."""
    prefixes = id_digests(*parts)
    return hex_column(prefixes), _keys(prefixes)


def hex_column(digests: np.ndarray) -> pa.Array:
    """(n, 8) digest bytes as n lowercase hex strings, without a Python str each (and, as
    ``pa.array`` would, without a validity buffer)."""
    raw = np.ascontiguousarray(digests, dtype=np.uint8).ravel()
    chars = np.empty(raw.size * 2, dtype=np.uint8)
    chars[0::2], chars[1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    n = raw.size * 2 // ID_CHARS
    offsets = np.arange(0, (n + 1) * ID_CHARS, ID_CHARS, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def id_keys(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The uint64 keys of a column of ``content_id`` hex strings (all 16 digits long)."""
    offsets, data = _values(ids)
    if len(offsets) > 1 and not np.all(np.diff(offsets) == ID_CHARS):
        raise ValueError(f"ids must be {ID_CHARS} hex digits")
    chars = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(-1, ID_CHARS)
    keys = np.zeros(len(chars), dtype=np.uint64)
    for i in range(ID_CHARS):
        keys = (keys << np.uint64(4)) | _NIBBLE[chars[:, i]]
    return keys


def text_keys(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit key per text, for comparing texts by hash within one process: Python's own bytes
    hash (SipHash, seeded per process), five times cheaper than a sha256 and as unlikely to
    collide (about n² / 2⁶⁵: 10⁻⁶ for 5M texts)."""
    offsets, buffer = _values(texts)
    data = buffer.to_pybytes() if buffer is not None else b""
    bounds = offsets.tolist()
    return np.array([hash(data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)], dtype=np.int64).view(np.uint64)
