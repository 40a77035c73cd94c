"""Bounds on sizes, checked before anything is allocated: from a graph's dims, its metadata and the options.

A damaged or hostile model can state any size (a batch of 2^63, a 100000 x 100000 image,
deep JSON in its metadata), and an option can ask for any count. genrt refuses what is
past these bounds, or past this machine's memory, in one line that says what it would
need, instead of letting numpy's allocator or the JSON parser fail. The same bounds hold
in the CLI, the Python API and the server.
"""

from __future__ import annotations

import json
import os
import shutil
from numbers import Integral
from typing import Any

from genrt.errors import InputError, ModelError, OutputError

MAX_BATCH = 1 << 16  # images in one session run
MAX_LATENT_DIM = 1 << 20  # values in one latent vector
MAX_IMAGE_SIDE = 1 << 14  # pixels along one side of an image
MAX_IMAGE_VALUES = 1 << 26  # C x H x W of one image (a 4096 x 4096 RGBA image)
MAX_CLASSES = 1 << 20  # classes of a conditional model
MAX_METADATA_JSON = 1 << 20  # characters of one JSON metadata value
MAX_JSON_DEPTH = 32  # nesting of one JSON metadata value
MAX_COUNT = 10**9  # images, iterations or steps asked for by one option


def integer(value: object) -> int | None:
    """`value` as an int when it is an integer (a Python or numpy integer, never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        return None
    return int(value)


def positive_int(value: object, name: str) -> int:
    """`value` as an int when it is an integer >= 1 (`integer`), else InputError naming `name`."""
    number = integer(value)
    if number is None or number < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return number


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def byte_text(nbytes: float) -> str:
    """A byte count as people read it: "800.0 GiB", or in MiB below one GiB ("3.6 MiB")."""
    if nbytes >= 1 << 30:
        return f"{nbytes / (1 << 30):,.1f} GiB"
    return f"{nbytes / (1 << 20):,.1f} MiB"


def check_fits(nbytes: int, what: str, remedy: str) -> None:
    """InputError when `what` needs more than this machine's physical memory, naming both and the remedy."""
    memory = physical_memory()
    if memory is not None and nbytes > memory:
        raise InputError(f"{what} would need {byte_text(nbytes)}, more than this machine's "
                         f"{byte_text(memory)} of memory; {remedy}")


def check_disk(path: str | os.PathLike[str], nbytes: int, remedy: str) -> None:
    """OutputError when writing `nbytes` to file or folder `path` needs more than its disk has free."""
    folder = os.path.abspath(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise OutputError(f"{path} would take {byte_text(nbytes)}, more than the {byte_text(free)} free on its disk; "
                          f"{remedy}")


def check_model_size(value: int, limit: int, what: str, path: str) -> int:
    """ModelError when a size a model states is past `limit`; returns `value`."""
    if value > limit:
        raise ModelError(f"{path}: {what} is {value:,}, past genrt's limit of {limit:,}; the file is damaged, or "
                         "not a model genrt can run")
    return value


def _depth(text: str) -> int:
    """The deepest bracket nesting of JSON `text` (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def metadata_json(meta: dict[str, str], key: str, path: str, default: Any = None) -> Any:
    """The JSON value of metadata `key` (`default` when absent or empty), parsed within the limits above;
    ModelError naming the key when it is too long, too deep or not JSON."""
    text = meta.get(key)
    if not text:
        return default
    problem = None
    if len(text) > MAX_METADATA_JSON:
        problem = f"is {len(text):,} characters long (at most {MAX_METADATA_JSON:,})"
    elif _depth(text) > MAX_JSON_DEPTH:
        problem = f"nests deeper than {MAX_JSON_DEPTH} levels"
    else:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            problem = "is not JSON"
    raise ModelError(f"{path}: its metadata {key} {problem}; export the model again")
