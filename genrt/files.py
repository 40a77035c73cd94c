"""Writing files the genrt way: whole or not at all, and never over a file by surprise.

Every file genrt writes goes to a temporary file in the destination's folder and
is moved into place with `os.replace`, so a crash, a full disk or Ctrl-C leaves
the old file or the new one, never half of one (DESIGN.md, "Errors and files").
Sets of files (a folder of samples, a model and its variants) are staged in a
hidden folder and moved into place together, or not at all (`Staging`).
numpy and Pillow are imported only when an image is saved, so the CLI can import
this module cheaply.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING

from genrt.errors import OutputError

if TYPE_CHECKING:
    import numpy as np

Path = str | os.PathLike[str]

IMAGE_FORMATS = ("png", "npy")


@contextlib.contextmanager
def atomic_write(path: Path, overwrite: bool = True) -> Iterator[IO[bytes]]:
    """Open a temp file next to `path` for binary writing; move it to `path` only if the block succeeds.

    Without `overwrite` the move itself refuses an existing file (a hard link, which
    fails if the name exists), so two writers racing for one name cannot both win.
    """
    path = os.fspath(path)
    if not overwrite and os.path.lexists(path):
        raise _exists(path)
    fd, temp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _move_into_place(temp, path, overwrite)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def _create_temp(path: str) -> tuple[int, str]:
    """A new hidden file next to `path`, mode 0666 less the umask (as open() gives), opened for writing."""
    folder, base = os.path.split(os.path.abspath(path))
    for _ in range(100):
        temp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    raise OutputError(f"cannot write {path}: no free temporary name in {folder}")


def _move_into_place(temp: str, path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError:  # a file system without hard links: the check before writing has to do
        if os.path.lexists(path):
            raise _exists(path) from None
        os.replace(temp, path)
        return
    os.unlink(temp)


def _exists(path: str) -> OutputError:
    return OutputError(f"{path} already exists; pass `overwrite` to replace it")


class Staging:
    """A hidden temporary folder next to some destinations: write there, check, then move everything into place.

    For outputs that must be checked before they are kept (an ONNX file is loaded
    and verified from its staged path; a model with external data is two files) and
    for sets of files that are kept all or none (`genrt sample -o out/`).
    `commit` moves the staged files to their destinations as one step that either
    completes or is undone; leaving the `with` block removes the folder and whatever
    was not committed.
    """

    def __init__(self, folder: str):
        try:
            self.dir = tempfile.mkdtemp(dir=folder or ".", prefix=".genrt-staging-")
        except OSError as exc:
            raise OutputError(f"cannot write to {folder or '.'}: {exc.strerror or exc}") from exc

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def commit(self, moves: list[tuple[str, str]], overwrite: bool = True, synced: bool = False) -> None:
        """Move staged files (name, destination) into place, in order: all of them, or none and the old files back.

        Without `overwrite` each destination is claimed exclusively (a file that appeared
        meanwhile is refused, never replaced). With it, each replaced file is kept as a
        hard link in the staging folder until every move has succeeded, and restored if
        one fails. Put the last file of a set last (a model after its data). `synced`:
        the files were fsynced when written.
        """
        done = []  # (destination, its previous file kept in the staging folder, or None)
        destination = moves[0][1] if moves else ""
        try:
            if not synced:
                for name, destination in moves:
                    with open(self.path(name), "rb") as f:
                        os.fsync(f.fileno())
            for number, (name, destination) in enumerate(moves):
                previous = self._keep_previous(destination, number) if overwrite else None
                _move_into_place(self.path(name), destination, overwrite)
                done.append((destination, previous))
        except BaseException as exc:
            for moved, previous in reversed(done):
                with contextlib.suppress(OSError):
                    os.replace(previous, moved) if previous else os.unlink(moved)
            if isinstance(exc, OSError):
                raise OutputError(f"cannot write {destination}: {exc.strerror or exc}") from exc
            raise

    def _keep_previous(self, destination: str, number: int) -> str | None:
        """A second name in the staging folder for the file at `destination`, if there is one (to restore it)."""
        if not os.path.lexists(destination):
            return None
        previous = self.path(f".previous-{number}")
        try:
            os.link(destination, previous)
        except OSError:  # a file system without hard links
            shutil.copy2(destination, previous, follow_symlinks=False)
        return previous

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def refuse_existing(paths: Iterable[str], overwrite: bool) -> None:
    """OutputError naming the first of `paths` that exists, unless `overwrite`."""
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not overwrite:
        raise OutputError(f"{existing[0]} already exists; pass `overwrite` to replace it, or choose another `output`")


def _remove_if_empty(folder: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(folder)


@contextlib.contextmanager
def new_folder(folder: str, undo: Callable[[str], None] = _remove_if_empty) -> Iterator[bool]:
    """Create `folder` (and its parents) if missing for the block; when the block fails, a folder this created is
    taken back with `undo(folder)` (by default only if it is empty), so a failed command leaves no trace."""
    created = not os.path.isdir(folder)
    if created:
        try:
            os.makedirs(folder)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    try:
        yield created
    except BaseException:
        if created:
            undo(folder)
        raise


def cache_dir(*parts: str) -> str:
    """genrt's cache folder ($GENRT_CACHE, else ~/.cache/genrt), joined with `parts`; not created here."""
    return os.path.join(os.environ.get("GENRT_CACHE") or os.path.expanduser("~/.cache/genrt"), *parts)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(os.fspath(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_image(path: Path, image: np.ndarray, fmt: str = "png", overwrite: bool = True) -> None:
    """Write one uint8 H x W x C image (C in 1, 3, 4) as PNG, or any array as .npy, atomically."""
    _check_format(fmt)
    with atomic_write(path, overwrite) as f:
        _encode(f, image, fmt)


def save_images(paths: list[str], images: Iterable[np.ndarray], fmt: str, overwrite: bool) -> None:
    """Write every image or none: all into a staging folder first, then moved into place together (Staging.commit).

    `images` may be an iterator, consumed one image at a time. Without `overwrite`
    existing files are refused before the first image is taken. If any write fails
    (a full disk, say), no file of this call is left and every file it would have
    replaced is as it was.
    """
    _check_format(fmt)
    if not overwrite:
        existing = [p for p in paths if os.path.lexists(p)]
        if len(existing) > 1:
            raise OutputError(f"{existing[0]} and {len(existing) - 1} more files already exist; "
                              "pass `overwrite` to replace them, or choose another `output`")
        refuse_existing(existing, overwrite)
    folder = os.path.dirname(os.path.abspath(paths[0]))
    with new_folder(folder), Staging(folder) as stage:
        moves = []
        for number, (path, image) in enumerate(zip(paths, images)):
            name = f"{number}.{fmt}"
            try:
                with open(stage.path(name), "xb") as f:
                    _encode(f, image, fmt)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {exc.strerror or exc}; no file of this run was "
                                  "kept") from exc
            moves.append((name, path))
        stage.commit(moves, overwrite, synced=True)


def _check_format(fmt: str) -> None:
    if fmt not in IMAGE_FORMATS:
        raise OutputError(f"unknown image format {fmt!r}; use one of {', '.join(IMAGE_FORMATS)}")


def _encode(f: IO[bytes], image: np.ndarray, fmt: str) -> None:
    if fmt == "npy":
        import numpy as np

        np.save(f, image, allow_pickle=False)
    else:
        f.write(png_bytes(image))


def png_bytes(image: object) -> bytes:
    """PNG encoding of a uint8 H x W x C image (C = 1: grayscale, 3: RGB, 4: RGBA)."""
    import io

    import numpy as np
    from PIL import Image

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        found = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise OutputError(f"PNG needs a uint8 H x W x C image with C in 1, 3, 4, got {found}")
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()
