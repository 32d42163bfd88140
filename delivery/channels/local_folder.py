"""Local storage folders: an organisation's targets write only inside `<root>/<organisation id>/`.

The roots are `DELIVERY_STORAGE_ROOTS`; the organisation's folder below a root is added by the
service and named by the organisation's primary key (a UUID), never its slug: a slug can be
renamed and later taken by another organisation, which would then find the first one's files.

A target's `path` is relative to its organisation's folder in the first root ("monthly" is
`<root>/<organisation id>/monthly/`), or absolute inside `<some root>/<organisation id>/`.
Nothing below a root is followed if it is a symbolic link (a root itself may be one: the
operator chose it). The check when a target is saved resolves real paths; the write walks down
from the root one folder at a time with O_NOFOLLOW and puts each file in place with a rename, so
a link planted between the check and the write is refused, never written through, and a link at
a file's own name is replaced rather than followed.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
_CHUNK = 1024 * 1024


class FolderRefused(Exception):
    """A folder an organisation may not write to; the message says why and where it may."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class OrganizationFolder:
    """A target's folder: `parts` below `<root>/<organisation id>/`, `root` a real path."""

    root: Path
    organization_id: str
    parts: tuple[str, ...]

    @property
    def path(self) -> Path:
        return self.root.joinpath(self.organization_id, *self.parts)


def storage_roots() -> list[Path]:
    return [Path(os.path.abspath(root)) for root in settings.DELIVERY_STORAGE_ROOTS]


def organization_folder(organization_id: str) -> Path:
    """Where an organisation's relative paths start: its folder in the first root."""
    return storage_roots()[0] / organization_id


def folder_normalise(path: Any) -> Any:
    """The path as stored: "." for the organisation's folder itself; not a text, unchanged."""
    if path is None:
        return "."
    if not isinstance(path, str):
        return path
    return os.path.normpath(path) if path.strip() else "."


def folder_resolve(path: str, *, organization_id: str) -> OrganizationFolder:
    """The folder a target's `path` names, or FolderRefused. Reads the file system."""
    if not isinstance(path, str) or "\x00" in path or "\\" in path:
        raise FolderRefused(_outside(organization_id, "Give a folder path with / between names."))
    normalised = folder_normalise(path)
    if os.path.isabs(normalised):
        folder = _absolute_folder(normalised, organization_id)
    elif normalised == ".." or normalised.startswith("../"):
        raise FolderRefused(_outside(organization_id, "Leaves the organisation's folder."))
    else:
        root = Path(os.path.realpath(storage_roots()[0]))
        folder = OrganizationFolder(root, organization_id, _parts(normalised))
    _check_no_links(folder)
    return folder


def _absolute_folder(path: str, organization_id: str) -> OrganizationFolder:
    for root in storage_roots():
        real_root = os.path.realpath(root)
        for spelling in dict.fromkeys((str(root), real_root)):
            below = os.path.relpath(path, os.path.join(spelling, organization_id))
            if below != ".." and not below.startswith("../"):
                return OrganizationFolder(Path(real_root), organization_id, _parts(below))
    raise FolderRefused(_outside(organization_id, "Not inside this organisation's folder."))


def _parts(relative: str) -> tuple[str, ...]:
    return tuple(part for part in relative.split("/") if part not in ("", "."))


def _check_no_links(folder: OrganizationFolder) -> None:
    current = folder.root
    for part in (folder.organization_id, *folder.parts):
        current = current / part
        if current.is_symlink():
            raise FolderRefused(_link(current, folder.organization_id))
        if not current.exists():
            break
        if not current.is_dir():
            raise FolderRefused(f"{current} is a file, not a folder.")
    # The walk above already stops at links; the real path is the rule it keeps.
    inside = folder.root / folder.organization_id
    if not Path(os.path.realpath(folder.path)).is_relative_to(inside):
        raise FolderRefused(_outside(folder.organization_id, "Leaves the organisation's folder."))


def _outside(organization_id: str, reason: str) -> str:
    home = organization_folder(organization_id)
    return (
        f"{reason} Local storage writes only inside this organisation's folder {home}/: give a "
        f'relative path ("monthly" is {home}/monthly/) or an absolute path inside it.'
    )


def _link(path: Path, organization_id: str) -> str:
    return (
        f"{path} is a symbolic link; links inside the organisation's folder "
        f"{organization_folder(organization_id)}/ are not followed."
    )


def file_write(folder: OrganizationFolder, name: str, content: BinaryIO) -> None:
    """Write `content` as `name` (slash-separated, relative) under the folder, creating folders.

    Raises FolderRefused for a link or a file where a folder should be, OSError otherwise.
    """
    *subfolders, filename = name.split("/")
    parts = [folder.organization_id, *folder.parts, *_parts("/".join(subfolders))]
    if ".." in parts or filename in ("", ".", ".."):
        raise FolderRefused(f"{name} is not a file name inside the folder.")
    folder.root.mkdir(parents=True, exist_ok=True)
    with _folder_opened(folder, parts) as directory:
        _replace(directory, filename, content)


@contextmanager
def _folder_opened(folder: OrganizationFolder, parts: list[str]) -> Iterator[int]:
    directory = os.open(folder.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for depth, part in enumerate(parts, start=1):
            child = _subfolder_open(directory, part, folder.root.joinpath(*parts[:depth]), folder)
            os.close(directory)
            directory = child
        yield directory
    finally:
        os.close(directory)


def _subfolder_open(directory: int, part: str, path: Path, folder: OrganizationFolder) -> int:
    with suppress(FileExistsError):
        os.mkdir(part, dir_fd=directory)
    try:
        return os.open(part, _DIRECTORY_FLAGS, dir_fd=directory)
    except OSError as error:
        if os.path.islink(path):  # O_NOFOLLOW met a link (ELOOP)
            raise FolderRefused(_link(path, folder.organization_id)) from error
        if not os.path.isdir(path):
            raise FolderRefused(f"{path} is a file, not a folder.") from error
        raise


def _replace(directory: int, filename: str, content: BinaryIO) -> None:
    # Written beside, then renamed over the name: a retry replaces its earlier attempt, a
    # reader never sees half a file, and rename replaces a link instead of writing through it.
    partial = f".{filename}.{uuid.uuid4().hex}.part"
    descriptor = os.open(partial, _NEW_FILE_FLAGS, 0o644, dir_fd=directory)
    try:
        with os.fdopen(descriptor, "wb") as written:
            while chunk := content.read(_CHUNK):
                written.write(chunk)
        os.replace(partial, filename, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(partial, dir_fd=directory)
        raise
