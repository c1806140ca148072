"""Users: named identities holding up to 100 faces of a collection, and search by user.

Every mutating call runs in one store transaction together with its ClientRequestToken
record, so a retried request (the SDKs fill the token in themselves) returns the first
answer without repeating the change, also after a crash. A token belongs to its collection:
it is deleted with the collection (a token replayed after the collection is re-created
runs again) and answered for 24 hours (`oculi.store.faces.TOKEN_TTL_S`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oculi.errors import (
    Conflict,
    IdempotentParameterMismatch,
    InvalidParameter,
    ResourceNotFound,
    ServiceQuotaExceeded,
)
from oculi.service.collections import Collections
from oculi.service.detect_faces import FaceResult
from oculi.store import faces as sql
from oculi.store.faces import IdempotencyMismatch
from oculi.vision.similarity import cosine_at, similarity

MAX_FACES_PER_USER = 100
# A User's score is the cosine of the query to the mean of their faces' vectors: with two
# faces enrolled it misses fewer searches than their best face, and strangers reach each
# Similarity level no more often (`python -m bench.identity` section 7,
# `python -m bench.identity_routes` section 3; docs/face-matching.md). It can exceed each
# face's cosine (by up to 0.096 over the fit half's Users of two faces), so candidates are
# gathered this much lower.
CANDIDATE_MARGIN = 0.15
CANDIDATE_FACES_PER_USER = 20  # faces gathered per User asked for (MaxUsers), at most 4096


def request_hash(params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()


def status(face_count: int) -> str:
    return "ACTIVE" if face_count else "CREATED"


@dataclass(frozen=True)
class UserMatch:
    user_id: str
    similarity: float


class Users:
    def __init__(self, collections: Collections) -> None:
        self.cols = collections
        self.store = collections.store

    def _idempotent(
        self, operation: str, params: dict[str, Any], effect: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            return self.store.run_idempotent(
                operation,
                params["CollectionId"],
                params.get("ClientRequestToken"),
                request_hash(params),
                effect,
            )
        except IdempotencyMismatch:
            raise IdempotentParameterMismatch(
                "ClientRequestToken was already used with different parameters"
            ) from None

    @staticmethod
    def _require(db: Any, cid: str, uid: str | None = None) -> None:
        if not sql.collection_exists(db, cid):
            raise ResourceNotFound(f"The collection id: {cid} does not exist")
        if uid is not None and not sql.user_exists(db, cid, uid):
            raise ResourceNotFound(f"The user id: {uid} does not exist in collection {cid}")

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, uid = params["CollectionId"], params["UserId"]

        def effect(db: Any) -> dict[str, Any]:
            self._require(db, cid)
            if sql.user_exists(db, cid, uid):
                raise Conflict(f"The user id: {uid} already exists in collection {cid}")
            sql.insert_user(db, cid, uid)
            return {}

        return self._idempotent("CreateUser", params, effect)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, uid = params["CollectionId"], params["UserId"]

        def effect(db: Any) -> dict[str, Any]:
            self._require(db, cid, uid)
            sql.delete_user(db, cid, uid)
            return {}

        answer = self._idempotent("DeleteUser", params, effect)
        self.store.scrub()  # the user id may name a person
        return answer

    def list(self, cid: str, after: str, limit: int) -> list[tuple[str, str]]:
        self.cols.describe(cid)
        return [(u, status(n)) for u, n in self.store.list_users(cid, after, limit)]

    def associate(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, uid = params["CollectionId"], params["UserId"]
        face_ids = list(dict.fromkeys(params["FaceIds"]))
        threshold = params.get("UserMatchThreshold", 75.0)

        def effect(db: Any) -> dict[str, Any]:
            self._require(db, cid, uid)
            owners = sql.face_owners(db, cid, face_ids)
            have = sql.user_face_count(db, cid, uid)
            new = [f for f in face_ids if f in owners and owners[f] is None]
            if have + len(new) > MAX_FACES_PER_USER:
                raise ServiceQuotaExceeded(
                    f"User {uid} would hold {have + len(new)} faces; the limit is "
                    f"{MAX_FACES_PER_USER}"
                )
            centre = self._user_vector(cid, uid) if have else None
            vecs = sql.embeddings_of(db, cid, new)
            done, failed = [], []
            for fid in face_ids:
                if fid not in owners:
                    failed.append({"FaceId": fid, "Reasons": ["FACE_NOT_FOUND"]})
                elif owners[fid] == uid:
                    done.append(fid)
                elif owners[fid] is not None:
                    failed.append(
                        {
                            "FaceId": fid,
                            "UserId": owners[fid],
                            "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"],
                        }
                    )
                else:
                    sim = 100.0 if centre is None else float(similarity(vecs[fid] @ centre))
                    if sim < threshold:
                        failed.append(
                            {
                                "FaceId": fid,
                                "UserId": uid,
                                "Confidence": sim,
                                "Reasons": ["LOW_MATCH_CONFIDENCE"],
                            }
                        )
                    else:
                        done.append(fid)
            sql.set_face_user(db, cid, [f for f in done if owners.get(f) is None], uid)
            return {
                "AssociatedFaces": [{"FaceId": f} for f in done],
                "UnsuccessfulFaceAssociations": failed,
                "UserStatus": status(sql.user_face_count(db, cid, uid)),
            }

        return self._idempotent("AssociateFaces", params, effect)

    def disassociate(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, uid = params["CollectionId"], params["UserId"]
        face_ids = list(dict.fromkeys(params["FaceIds"]))

        def effect(db: Any) -> dict[str, Any]:
            self._require(db, cid, uid)
            owners = sql.face_owners(db, cid, face_ids)
            done, failed = [], []
            for fid in face_ids:
                if fid not in owners:
                    failed.append({"FaceId": fid, "Reasons": ["FACE_NOT_FOUND"]})
                elif owners[fid] != uid:
                    failed.append(
                        {
                            "FaceId": fid,
                            "UserId": owners[fid] or "",
                            "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"],
                        }
                    )
                else:
                    done.append(fid)
            sql.set_face_user(db, cid, done, None)
            return {
                "DisassociatedFaces": [{"FaceId": f} for f in done],
                "UnsuccessfulFaceDisassociations": failed,
                "UserStatus": status(sql.user_face_count(db, cid, uid)),
            }

        return self._idempotent("DisassociateFaces", params, effect)

    def _user_vector(self, cid: str, uid: str, drop: np.ndarray | None = None) -> np.ndarray:
        """The unit mean of the User's faces' vectors, less the face whose vector is `drop`
        (the query of a search by FaceId is no evidence for its own User)."""
        vecs = self.store.user_embeddings(cid, uid)
        if drop is not None and len(vecs):
            vecs = vecs[~np.all(vecs == drop, axis=1)]
        if not len(vecs):
            raise InvalidParameter(f"User {uid} has no faces to search with")
        mean = vecs.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def _scored_users(
        self,
        cid: str,
        query: np.ndarray,
        threshold: float,
        max_users: int,
        skip_user: str | None = None,
        exclude: str | None = None,
    ) -> list[UserMatch]:
        """Users scored by the cosine of `query` to the mean of their faces' vectors, at
        `threshold` raised to what the collection's size needs. The candidates are the
        Users of the faces within CANDIDATE_MARGIN (in cosine) of that bar: a mean vector
        can score above each of its faces."""
        bar = cosine_at(self.cols.sized_threshold(cid, threshold))
        wide = float(similarity(bar - CANDIDATE_MARGIN))
        k = min(4096, max_users * CANDIDATE_FACES_PER_USER)
        faces = self.cols.search_vector(cid, query, k, wide, exclude, sized=False)
        users = dict.fromkeys(
            m.record.user_id
            for m in faces
            if m.record.user_id is not None and m.record.user_id != skip_user
        )
        drop = query if exclude is not None else None
        scored = [(u, float(self._user_vector(cid, u, drop) @ query)) for u in users]
        ranked = sorted((uc for uc in scored if uc[1] >= bar), key=lambda uc: -uc[1])
        return [UserMatch(u, float(similarity(c))) for u, c in ranked[:max_users]]

    def search(
        self, cid: str, user_id: str | None, face_id: str | None, threshold: float, max_users: int
    ) -> list[UserMatch]:
        self.cols.describe(cid)
        if (user_id is None) == (face_id is None):
            raise InvalidParameter("Give exactly one of UserId or FaceId")
        if user_id is not None:
            if not self.store.has_user(cid, user_id):
                raise ResourceNotFound(f"The user id: {user_id} does not exist")
            query = self._user_vector(cid, user_id)
            return self._scored_users(cid, query, threshold, max_users, skip_user=user_id)
        assert face_id is not None
        query = self.store.embedding(cid, face_id)
        if query is None:
            raise InvalidParameter(f"Face {face_id} is not in collection {cid}")
        return self._scored_users(cid, query, threshold, max_users, exclude=face_id)

    def search_by_image(
        self, cid: str, rgb: np.ndarray, threshold: float, max_users: int, quality_filter: str
    ) -> tuple[FaceResult, FaceResult, list[UserMatch]]:
        """Searched (largest) face, the other faces (unsearched), and user matches."""
        self.cols.describe(cid)
        searched, everyone = self.cols.largest_face(rgb, quality_filter)
        others = FaceResult(
            faces=everyone.faces.take(np.arange(1, len(everyone.faces))),
            width=everyone.width,
            height=everyone.height,
            attributes=everyone.attributes,
        )
        query = self.cols.embedder(rgb, searched.faces)[0]
        return searched, others, self._scored_users(cid, query, threshold, max_users)
