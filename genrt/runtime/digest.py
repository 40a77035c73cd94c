"""The digest genrt writes into every model file it saves, and the check that refuses a damaged one.

A file genrt wrote carries `genrt.sha256`, the sha256 of the file as it would be without
that one metadata entry (`stamp_digest` adds it last, right before saving). A file whose
bytes no longer match (bit flips, a partial overwrite) is refused instead of drawing
wrong images. Weights kept as external data live in another file and are not covered:
such a file says `genrt.sha256 = none` (UNDIGESTED). A file with genrt.* metadata but no
`genrt.sha256` at all is refused too, since one flipped bit in that key would otherwise
turn a damaged genrt file into a "foreign" one; `none` is how a person accepts an edited
file knowingly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from genrt.errors import ModelError
from genrt.runtime import protowire as wire

_MODEL_METADATA, _ENTRY_KEY, _ENTRY_VALUE = 14, 1, 2  # field numbers from onnx.proto3
DIGEST_KEY = "genrt.sha256"
UNDIGESTED = "none"  # the DIGEST_KEY value of a genrt file that carries no digest on purpose


def stamp_digest(model: Any) -> str:
    """Set DIGEST_KEY in an onnx ModelProto's metadata to the sha256 of the model without it; call it right before saving."""
    kept = [(e.key, e.value) for e in model.metadata_props if e.key != DIGEST_KEY]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    digest = hashlib.sha256(model.SerializeToString()).hexdigest()
    model.metadata_props.add(key=DIGEST_KEY, value=digest)
    return digest


def set_undigested(model: Any) -> None:
    """Mark an onnx ModelProto that is saved without a digest (its weights live in external data) as UNDIGESTED."""
    kept = [(e.key, e.value) for e in model.metadata_props if e.key != DIGEST_KEY]
    del model.metadata_props[:]
    for key, value in kept + [(DIGEST_KEY, UNDIGESTED)]:
        model.metadata_props.add(key=key, value=value)


def check_digest(path: str) -> bool | None:
    """True when the file matches its DIGEST_KEY; None for a foreign file (no genrt.* metadata) or one marked
    UNDIGESTED; ModelError when the digest differs, or when genrt metadata comes without any digest."""
    ((recorded, actual, genrt_keys),) = wire.parse(path, _digests)
    if recorded == UNDIGESTED:
        return None
    if recorded is None:
        if genrt_keys:
            raise ModelError(f"{path} carries genrt metadata ({', '.join(genrt_keys[:3])}) but no digest "
                             f"({DIGEST_KEY}): it is damaged or was edited outside genrt; restore it or export the "
                             f"model again (to accept it as it is, knowingly: set its {DIGEST_KEY} metadata to "
                             f"{UNDIGESTED!r})")
        return None
    if recorded != actual:
        raise ModelError(f"{path} is damaged: its bytes no longer match the digest genrt wrote into it "
                         f"({DIGEST_KEY}); restore the file or export the model again")
    return True


def _digests(model: memoryview) -> Iterator[tuple[str | None, str | None, list[str]]]:
    """One (recorded digest or None, sha256 of every top-level field but the digest's own metadata entry,
    the other genrt.* metadata keys)."""
    recorded: str | None = None
    skipped, genrt_keys = (0, 0), []
    for number, kind, start, end in wire.spans(model):
        if number == _MODEL_METADATA and kind == 2:
            entry = dict(wire.fields(wire.payload(model, start, end)))
            key = bytes(entry.get(_ENTRY_KEY, b""))
            if key == DIGEST_KEY.encode():
                recorded, skipped = bytes(entry.get(_ENTRY_VALUE, b"")).decode("ascii", "replace"), (start, end)
            elif key.startswith(b"genrt."):
                genrt_keys.append(key.decode("utf-8", "replace"))
    if recorded is None or recorded == UNDIGESTED:
        yield recorded, None, genrt_keys
        return
    digest = hashlib.sha256()
    digest.update(model[: skipped[0]])
    digest.update(model[skipped[1] :])
    yield recorded, digest.hexdigest(), genrt_keys
