"""Protobuf's wire format, read in place: the few primitives onnxfile.py walks an ONNX file with.

A message is a run of fields, each a key (field number and wire type) and a value:
a varint, 8 or 4 fixed bytes, or a length-delimited payload (strings, bytes and
nested messages). These functions read them from a memoryview without copying, so a
file of any size is walked through a read-only memory map (`parse`).
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from genrt.errors import ModelError

MAX_FIELDS = 1_000_000  # per message; generator graphs have thousands of nodes, so more is garbage (refused quickly)


def parse(path: str, walk: Callable[[memoryview], Iterable[Any]]) -> list[Any]:
    """Walk the file through a read-only memory map: no copy of it in Python, whatever its size.

    `walk` must return plain values (numbers, str, bytes), never views into the map.
    """
    with open(path, "rb") as f:
        try:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise ModelError(f"cannot load {path} as an ONNX model: the file is empty") from None
    data, problem = memoryview(mapped), None
    try:
        result = list(walk(data))
    except (IndexError, ValueError) as exc:
        problem = str(exc)  # only the text: the traceback's frames hold views into the map, which must go first
    data.release()
    mapped.close()
    if problem is not None:
        raise ModelError(f"cannot load {path} as an ONNX model: the protobuf is malformed ({problem})")
    return result


def varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def spans(data: memoryview) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field of one message: its bytes, key included, are data[start:end].

    Garbage is refused in bounded time: field number 0 does not exist (a file of zero
    bytes would otherwise be read as billions of empty fields), and no ONNX message
    has more than MAX_FIELDS fields.
    """
    pos, end, count = 0, len(data), 0
    while pos < end:
        start = pos
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        count += 1
        if number == 0:
            raise ValueError("field number 0")
        if count > MAX_FIELDS:
            raise ValueError(f"more than {MAX_FIELDS:,} fields in one message")
        if wire == 0:
            _, pos = varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = varint(data, pos)
            if pos + length > end:
                raise ValueError(f"field {number} runs past the end of its message")
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire} in field {number}")
        if pos > end:
            raise ValueError("message truncated")
        yield number, wire, start, pos


def payload(data: memoryview, start: int, end: int) -> memoryview:
    """The bytes of the length-delimited field data[start:end], past its key and its length."""
    _, pos = varint(data, start)
    _, pos = varint(data, pos)
    return data[pos:end]


def fields(data: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(field number, payload) for each length-delimited field of one message."""
    for number, wire, start, end in spans(data):
        if wire == 2:
            yield number, payload(data, start, end)


def fields_and_varints(data: memoryview) -> Iterator[tuple[int, memoryview | int]]:
    """(field number, payload or value) for each length-delimited field and each varint of one message."""
    for number, wire, start, end in spans(data):
        if wire == 2:
            yield number, payload(data, start, end)
        elif wire == 0:
            _, pos = varint(data, start)
            yield number, varint(data, pos)[0]


def message(value: memoryview | int) -> memoryview:
    """`value` as a length-delimited payload; ValueError (a malformed message) for a varint where one belongs."""
    if isinstance(value, int):
        raise ValueError("a number where a string or message belongs")
    return value
