"""RecognizeCelebrities and GetCelebrityInfo, answered from a collection the operator names.

oculi ships no celebrity database. An operator who wants RecognizeCelebrities to name
anyone enrols the public figures they choose into one collection (`oculi serve
--celebrity-collection NAME`): each celebrity is a user of that collection, holding the
faces of their photos, with a record of public facts (name, URLs, known gender; see
`oculi.store.faces.Celebrity`). A face is recognized when its best match among those users
reaches the identity threshold (Rekognition's default 80, raised to the operator's identity
floor); every other face, and every face when no such collection is configured or it does
not exist, is returned unrecognized. See docs/celebrities.md.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

import numpy as np

from oculi.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from oculi.service.collections import Collections
from oculi.service.detect_faces import FaceResult
from oculi.service.users import MAX_FACES_PER_USER, Users
from oculi.store.faces import Celebrity

MAX_FACES = 64  # Rekognition answers the 64 largest faces
DEFAULT_THRESHOLD = 80.0
CANDIDATES = 20  # nearest faces looked at per face: the best that belongs to a celebrity wins
KNOWN_GENDERS = ("Male", "Female", "Nonbinary", "Unlisted")
CELEBRITY_ID = re.compile(r"[0-9A-Za-z]{1,128}")  # RekognitionUniqueId, within UserId's 128


@dataclass(frozen=True)
class Recognized:
    celebrity: Celebrity
    match_confidence: float


def new_celebrity_id() -> str:
    """A random id of 10 letters and digits (Rekognition's celebrity ids are alphanumeric)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10))


class Celebrities:
    def __init__(self, collections: Collections, collection_id: str | None, floor: float) -> None:
        """`collection_id`: the operator's celebrity collection (None: recognize nobody);
        `floor`: the operator's identity floor."""
        self.cols = collections
        self.collection_id = collection_id
        self.threshold = max(DEFAULT_THRESHOLD, floor)

    def _source(self) -> str | None:
        """The celebrity collection, if configured and present."""
        cid = self.collection_id
        return cid if cid and self.cols.store.get_collection(cid) is not None else None

    def recognize(self, rgb: np.ndarray) -> tuple[FaceResult, list[Recognized | None]]:
        """The image's faces (up to 64, largest first) and, for each, who it is or None."""
        faces = self.cols.analyzer.analyze(rgb, max_faces=MAX_FACES)
        h, w = rgb.shape[:2]
        result = FaceResult(faces=faces, width=w, height=h, attributes=frozenset({"DEFAULT"}))
        cid = self._source()
        if cid is None or not len(faces):
            return result, [None] * len(faces)
        return result, [self._identify(cid, q) for q in self.cols.embedder(rgb, faces)]

    def identify(self, query: np.ndarray) -> Recognized | None:
        """Who one face embedding is, or None."""
        cid = self._source()
        return None if cid is None else self._identify(cid, query)

    def _identify(self, cid: str, query: np.ndarray) -> Recognized | None:
        matches = self.cols.search_vector(cid, query, CANDIDATES, self.threshold)
        ids = sorted({str(m.record.user_id) for m in matches if m.record.user_id})
        who = {c.user_id: c for c in self.cols.store.celebrities(cid, ids)} if ids else {}
        best = next((m for m in matches if m.record.user_id in who), None)  # most similar
        return None if best is None else Recognized(who[str(best.record.user_id)], best.similarity)

    def info(self, celebrity_id: str) -> Celebrity:
        cid = self._source()
        found = self.cols.store.celebrities(cid, [celebrity_id]) if cid else []
        if not found:
            raise ResourceNotFound(f"No celebrity of id {celebrity_id} is known")
        return found[0]


def enrol(
    users: Users,
    collection_id: str,
    celebrity: Celebrity,
    photos: list[tuple[np.ndarray, bytes]],
) -> tuple[list[str], list[str]]:
    """Create the celebrity collection if needed, and the celebrity's user (or add to an
    existing one); index the largest face of each photo and associate it. Returns the face
    ids associated and one message per photo that gave none. The record of public facts is
    written last, once the user holds at least one face."""
    cols = users.cols
    if not CELEBRITY_ID.fullmatch(celebrity.user_id):
        raise InvalidParameter("a celebrity id is 1 to 128 letters and digits")
    if celebrity.known_gender not in (None, *KNOWN_GENDERS):
        raise InvalidParameter(f"known gender is one of {', '.join(KNOWN_GENDERS)}")
    try:
        cols.create(collection_id)
    except ResourceAlreadyExists:
        pass
    user = {"CollectionId": collection_id, "UserId": celebrity.user_id}
    created = not cols.store.has_user(collection_id, celebrity.user_id)
    if created:
        users.create(user)
    indexed: list[str] = []
    problems: list[str] = []
    for n, (rgb, data) in enumerate(photos, 1):
        done = cols.index_faces(collection_id, rgb, celebrity.user_id, 1, "AUTO", data)
        if not done.records:
            reasons = ", ".join(r for _, rs in done.unindexed for r in rs) or "no face found"
            problems.append(f"photo {n}: no face indexed ({reasons})")
            continue
        indexed.append(done.records[0][1].face_id)
    associated: list[str] = []
    if indexed:
        r = users.associate({**user, "FaceIds": indexed})
        associated = [f["FaceId"] for f in r["AssociatedFaces"]]
        for f in r["UnsuccessfulFaceAssociations"]:
            problems.append(f"face {f['FaceId']} not associated: {', '.join(f['Reasons'])}")
        cols.delete_faces(collection_id, [f for f in indexed if f not in associated])
    if cols.store.list_faces(collection_id, 0, 1, None, celebrity.user_id):
        cols.store.set_celebrity(collection_id, celebrity)
    elif created:
        users.delete(user)
    return associated, problems


def remove(users: Users, collection_id: str, celebrity_id: str) -> int:
    """Delete the celebrity: their record, their user and every face the user held.
    Returns the number of faces deleted."""
    store = users.store
    if not store.has_user(collection_id, celebrity_id):
        raise ResourceNotFound(f"No celebrity {celebrity_id} in collection {collection_id}")
    faces = [
        r.face_id
        for _, r in store.list_faces(collection_id, 0, MAX_FACES_PER_USER, None, celebrity_id)
    ]
    users.delete({"CollectionId": collection_id, "UserId": celebrity_id})
    deleted, _ = users.cols.delete_faces(collection_id, faces)
    return len(deleted)
