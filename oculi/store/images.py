"""Kept images: the bytes IndexFaces indexed, for re-indexing when the face model changes.

Off unless the operator opts in (`oculi serve --keep-images`, `OCULI_KEEP_IMAGES=1`). A kept
image is face data on disk, so it lives exactly as long as its faces do:

- IndexFaces writes `<directory>/<storage name>/<image id>` atomically (temporary file,
  fsync, rename, fsync of the folder) before the faces are committed, so every acknowledged
  face has its image; only images that gave at least one indexed face are written. The
  folder is the collection's `storage_name` (oculi/store/names.py), never its id.
- When the last face of an image is deleted (DeleteFaces, retention expiry,
  DeleteCollection), the file is removed after the store's commit.
- A crash between the commit and the removal leaves a file whose image id no longer has
  faces: `sweep` (run when the server starts) removes every such file, and every file of a
  collection that no longer exists.

Image ids are the UUIDs IndexFaces makes; nothing else is accepted as a file name.

Data directories made before storage names kept images in `<legacy>/<quoted collection
id>/`. `sweep` first moves each image of a live collection into the new layout (one atomic
rename per file, so a crash part-way leaves every image in one place or the other, and the
next start finishes the move), then removes the old folders: those of deleted collections
with whatever they still held (face data that outlived its faces), the others once emptied
of images.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote

from oculi.store.files import fsync_dir, remove_tree
from oculi.store.names import storage_name

TMP_MARK = ".tmp-"


def _valid_image_id(image_id: str) -> bool:
    try:
        return str(uuid.UUID(image_id)) == image_id
    except ValueError:
        return False


class ImageStore:
    """Kept image files under `directory`, one folder per collection (named by its
    storage name); `legacy`: where an older oculi kept them, moved from by `sweep`."""

    def __init__(self, directory: Path, legacy: Path | None = None) -> None:
        self.directory = directory
        self.legacy = legacy

    def folder(self, collection_id: str) -> Path:
        return self.directory / storage_name(collection_id)

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
        fsync_dir(final.parent)

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

    def sweep(
        self,
        collection_ids: Iterable[str],
        images_with_faces: Callable[[str, list[str]], set[str]],
    ) -> int:
        """Move images kept in the legacy layout, then remove the files no face refers to
        any more (and temporary files of writes cut short); `collection_ids`: every
        collection that exists. Returns how many files were removed. Run it while nothing
        is indexing."""
        live = {storage_name(cid): cid for cid in collection_ids}
        removed = self._migrate(live)
        if not self.directory.is_dir():
            return removed
        for folder in sorted(self.directory.iterdir()):
            cid = live.get(folder.name)
            if cid is None or not folder.is_dir():
                removed += remove_tree(folder)
                continue
            for p in folder.iterdir():
                if TMP_MARK in p.name or not _valid_image_id(p.name):
                    removed += remove_tree(p)
            ids = self.image_ids(cid)
            for a in range(0, len(ids), 500):
                part = ids[a : a + 500]
                orphans = set(part) - images_with_faces(cid, part)
                self.remove(cid, sorted(orphans))
                removed += len(orphans)
        return removed

    def _migrate(self, live: dict[str, str]) -> int:
        """Move the legacy layout's images of live collections here; remove the rest of
        it. Returns how many files were removed."""
        if self.legacy is None or not self.legacy.is_dir():
            return 0
        by_id = set(live.values())
        removed = 0
        for old in sorted(self.legacy.iterdir()):
            cid = unquote(old.name)
            if old.is_dir() and not old.is_symlink() and cid in by_id:
                new = self.folder(cid)
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                new.mkdir(mode=0o700, exist_ok=True)
                for p in sorted(old.iterdir()):
                    if _valid_image_id(p.name) and p.is_file() and not p.is_symlink():
                        os.replace(p, new / p.name)
                fsync_dir(new)
                fsync_dir(self.directory)
            removed += remove_tree(old)
        self.legacy.rmdir()
        return removed
