"""Kept images: the bytes IndexFaces indexed, for re-indexing when the face model changes.

Off unless the operator opts in (`oculi serve --keep-images`, `OCULI_KEEP_IMAGES=1`). A kept
image is face data on disk, so it lives exactly as long as its faces do:

- IndexFaces writes `<directory>/<collection>/<image id>` atomically (temporary file, fsync,
  rename, fsync of the folder) before the faces are committed, so every acknowledged face
  has its image; only images that gave at least one indexed face are written.
- When the last face of an image is deleted (DeleteFaces, retention expiry,
  DeleteCollection), the file is removed after the store's commit.
- A crash between the commit and the removal leaves a file whose image id no longer has
  faces: `sweep` (run when the server starts) removes every such file, and every file of a
  collection that no longer exists.

Image ids are the UUIDs IndexFaces makes; nothing else is accepted as a file name.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote

TMP_MARK = ".tmp-"


def _valid_image_id(image_id: str) -> bool:
    try:
        return str(uuid.UUID(image_id)) == image_id
    except ValueError:
        return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageStore:
    """Kept image files under `directory`, one folder per collection."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def folder(self, collection_id: str) -> Path:
        return self.directory / quote(collection_id, safe="")

    def path(self, collection_id: str, image_id: str) -> Path:
        if not _valid_image_id(image_id):
            raise ValueError(f"not an image id: {image_id!r}")
        return self.folder(collection_id) / image_id

    def put(self, collection_id: str, image_id: str, data: bytes) -> None:
        """Write the image durably (on disk when this returns), readable by the server's
        user only."""
        final = self.path(collection_id, image_id)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = final.with_name(f"{image_id}{TMP_MARK}{uuid.uuid4().hex}")
        try:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)

    def read(self, collection_id: str, image_id: str) -> bytes:
        return self.path(collection_id, image_id).read_bytes()

    def remove(self, collection_id: str, image_ids: list[str]) -> None:
        for image_id in image_ids:
            if _valid_image_id(image_id):
                self.path(collection_id, image_id).unlink(missing_ok=True)

    def drop(self, collection_id: str) -> None:
        """Remove every kept image of a deleted collection."""
        shutil.rmtree(self.folder(collection_id), ignore_errors=True)

    def image_ids(self, collection_id: str) -> list[str]:
        """The collection's kept image ids, sorted."""
        folder = self.folder(collection_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if _valid_image_id(p.name))

    def collections(self) -> Iterator[str]:
        if self.directory.is_dir():
            for p in sorted(self.directory.iterdir()):
                if p.is_dir():
                    yield unquote(p.name)

    def sweep(
        self,
        collection_exists: Callable[[str], bool],
        images_with_faces: Callable[[str, list[str]], set[str]],
    ) -> int:
        """Remove the files no face refers to any more (and temporary files of writes cut
        short); returns how many files were removed. Run it while nothing is indexing."""
        removed = 0
        for cid in list(self.collections()):
            folder = self.folder(cid)
            if not collection_exists(cid):
                removed += sum(1 for p in folder.iterdir() if p.is_file())
                self.drop(cid)
                continue
            for p in folder.iterdir():
                if TMP_MARK in p.name or not _valid_image_id(p.name):
                    p.unlink(missing_ok=True)
                    removed += 1
            ids = self.image_ids(cid)
            for a in range(0, len(ids), 500):
                part = ids[a : a + 500]
                orphans = set(part) - images_with_faces(cid, part)
                self.remove(cid, sorted(orphans))
                removed += len(orphans)
        return removed
