"""Damaged image files: what a bad disk, a broken camera or a hostile upload puts in an image folder.

`image_mutant(data, rng)` returns damaged bytes of a PNG or JPEG and what was done: bit flips,
truncation, splices and zeroed ranges anywhere, and damage that keeps the file well formed where a
decoder trusts it: PNG header fields (width, height, bit depth, colour type) rewritten with a valid
CRC, chunk lengths that lie, duplicated or missing chunks, compressed text and ICC chunks that inflate
to 100 MB, an image stream that inflates far past its header's size, an APNG frame count of 2^31;
JPEG frame sizes rewritten. genrt's image folders must refuse each of them in one line or read it
(tests/test_imagefolder.py, benchmarks/fuzz_images.py).
"""

from __future__ import annotations

import random
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIZES = (0, 1, 3, 65_535, 1 << 16, 100_000, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)


def byte_mutant(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One byte-level damage of `data`: bit flips, truncation, a splice or a zeroed range."""
    data = bytearray(data)
    how = rng.randrange(4)
    if how == 0:
        for _ in range(rng.choice((1, 8, 64))):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data), "bit flips"
    if how == 1:
        return bytes(data[: rng.randrange(len(data))]), "truncated"
    if how == 2:
        a, b, c = sorted(rng.randrange(len(data)) for _ in range(3))
        return bytes(data[:a] + data[b:c] + data[a:]), "spliced"
    a, n = rng.randrange(len(data)), rng.randrange(1, 4096)
    data[a:a + n] = bytes(len(data[a:a + n]))
    return bytes(data), "zeroed range"


def chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload and a correct CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of each chunk of a well-formed PNG."""
    found, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        found.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return found


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(chunk(kind, payload) for kind, payload in chunks)


def _inflating(size: int) -> bytes:
    return zlib.compress(b"\0" * size, 9)


def png_mutant(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One structure-level damage of a well-formed PNG, with valid CRCs where the damage is not the CRC."""
    chunks = png_chunks(data)
    ihdr = bytearray(chunks[0][1])
    how = rng.randrange(8)
    if how == 0:
        width, height = rng.choice(SIZES), rng.choice(SIZES)
        ihdr[0:8] = struct.pack(">II", width, height)
        return _png([(b"IHDR", bytes(ihdr))] + chunks[1:]), f"header size {width}x{height}"
    if how == 1:
        field = rng.choice((8, 9, 10, 11, 12))  # bit depth, colour type, compression, filter, interlace
        ihdr[field] = rng.choice((0, 3, 5, 7, 16, 255))
        return _png([(b"IHDR", bytes(ihdr))] + chunks[1:]), f"header byte {field} = {ihdr[field]}"
    if how == 2:
        index = rng.randrange(len(chunks))
        raw = bytearray(_png(chunks))
        pos = len(PNG_SIGNATURE) + sum(12 + len(p) for _, p in chunks[:index])
        raw[pos:pos + 4] = struct.pack(">I", rng.choice((0, 1 << 20, (1 << 31) - 1, (1 << 32) - 1)))
        return bytes(raw), f"chunk {index} length lies"
    if how == 3:
        kind = rng.choice((b"zTXt", b"iCCP"))
        payload = b"comment\0\0" + _inflating(100 << 20)
        return _png(chunks[:1] + [(kind, payload)] + chunks[1:]), f"{kind.decode()} inflating to 100 MB"
    if how == 4:
        return _png([c for c in chunks if c[0] != b"IDAT"][:1] + [(b"IDAT", _inflating(200 << 20))]
                    + chunks[-1:]), "an image stream inflating to 200 MB"
    if how == 5:
        return _png(chunks[:1] + [(b"acTL", struct.pack(">II", (1 << 31) - 1, 0))] + chunks[1:]), "APNG of 2^31 frames"
    if how == 6:
        return _png(chunks[:1] + chunks[:1] + chunks[1:]), "IHDR twice"
    return _png([c for c in chunks if c[0] != rng.choice((b"IDAT", b"IEND", b"IHDR"))]), "a chunk left out"


def jpeg_mutant(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A JPEG whose frame header (SOF0) states another size, or byte-level damage when it has none."""
    at = data.find(b"\xff\xc0")
    if at < 0:
        return byte_mutant(data, rng)
    height, width = rng.choice(SIZES) & 0xFFFF, rng.choice(SIZES) & 0xFFFF
    raw = bytearray(data)
    raw[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(raw), f"frame size {width}x{height}"


def image_mutant(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Byte-level damage half of the time, structure-level (png_mutant, jpeg_mutant) otherwise."""
    if rng.random() < 0.5:
        return byte_mutant(data, rng)
    return png_mutant(data, rng) if data.startswith(PNG_SIGNATURE) else jpeg_mutant(data, rng)
