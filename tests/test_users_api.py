"""Users: CreateUser ... SearchUsersByImage, with ClientRequestToken idempotency."""

from __future__ import annotations

import math
import uuid

import pytest
from botocore.exceptions import ClientError

from oculi.vision.similarity import cosine_at
from tests.conftest import FIXTURES

PEOPLE = FIXTURES / "people"


def photo(rel: str) -> bytes:
    return (PEOPLE / rel).read_bytes()


@pytest.fixture()
def coll(client):
    """A collection with obama x2, biden x2 and kit x1 indexed; yields (id, faces by name)."""
    cid = f"u-{uuid.uuid4().hex[:10]}"
    client.create_collection(CollectionId=cid)
    faces: dict[str, list[str]] = {}
    for rel in (
        "train/obama/obama.jpg",
        "train/obama/obama2.jpg",
        "train/biden/biden.jpg",
        "train/biden/biden2.jpg",
        "train/kit_harington/john1.jpeg",
    ):
        r = client.index_faces(CollectionId=cid, Image={"Bytes": photo(rel)}, MaxFaces=1)
        faces.setdefault(rel.split("/")[1], []).append(r["FaceRecords"][0]["Face"]["FaceId"])
    yield cid, faces
    client.delete_collection(CollectionId=cid)


def test_user_lifecycle_and_association(client, coll) -> None:
    cid, faces = coll
    assert set(client.create_user(CollectionId=cid, UserId="barack")) == {"ResponseMetadata"}
    client.create_user(CollectionId=cid, UserId="joe")
    with pytest.raises(client.exceptions.ConflictException):
        client.create_user(CollectionId=cid, UserId="barack")
    users = client.list_users(CollectionId=cid)["Users"]
    assert users == [
        {"UserId": "barack", "UserStatus": "CREATED"},
        {"UserId": "joe", "UserStatus": "CREATED"},
    ]
    r = client.associate_faces(CollectionId=cid, UserId="barack", FaceIds=faces["obama"])
    assert {f["FaceId"] for f in r["AssociatedFaces"]} == set(faces["obama"])
    assert r["UserStatus"] == "ACTIVE" and r["UnsuccessfulFaceAssociations"] == []
    # A face of someone else does not match barack's faces at the default threshold (75).
    r = client.associate_faces(CollectionId=cid, UserId="barack", FaceIds=faces["biden"][:1])
    assert r["AssociatedFaces"] == []
    assert r["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    # A face held by one user cannot join another; a missing face is reported.
    missing = str(uuid.uuid4())
    r = client.associate_faces(CollectionId=cid, UserId="joe", FaceIds=[faces["obama"][0], missing])
    reasons = {f["FaceId"]: f["Reasons"] for f in r["UnsuccessfulFaceAssociations"]}
    assert reasons == {
        faces["obama"][0]: ["ASSOCIATED_TO_A_DIFFERENT_USER"],
        missing: ["FACE_NOT_FOUND"],
    }
    listed = client.list_faces(CollectionId=cid, UserId="barack")["Faces"]
    assert {f["FaceId"] for f in listed} == set(faces["obama"])
    assert all(f["UserId"] == "barack" for f in listed)
    # A face a user holds cannot be deleted until it is disassociated.
    r = client.delete_faces(CollectionId=cid, FaceIds=faces["obama"][:1])
    assert r["DeletedFaces"] == []
    assert r["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    r = client.disassociate_faces(CollectionId=cid, UserId="barack", FaceIds=faces["obama"][:1])
    assert r["DisassociatedFaces"] == [{"FaceId": faces["obama"][0]}]
    assert client.delete_faces(CollectionId=cid, FaceIds=faces["obama"][:1])["DeletedFaces"]
    assert client.describe_collection(CollectionId=cid)["UserCount"] == 2
    client.delete_user(CollectionId=cid, UserId="barack")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_user(CollectionId=cid, UserId="barack")
    # Deleting the user leaves its faces in the collection, unassociated.
    left = client.list_faces(CollectionId=cid, FaceIds=faces["obama"][1:])["Faces"]
    assert len(left) == 1 and "UserId" not in left[0]


def test_search_users(client, coll) -> None:
    cid, faces = coll
    client.create_user(CollectionId=cid, UserId="barack")
    client.associate_faces(CollectionId=cid, UserId="barack", FaceIds=faces["obama"][:1])
    client.create_user(CollectionId=cid, UserId="barack-again")  # the same man, other photo
    client.associate_faces(CollectionId=cid, UserId="barack-again", FaceIds=faces["obama"][1:])
    client.create_user(CollectionId=cid, UserId="joe")
    client.associate_faces(CollectionId=cid, UserId="joe", FaceIds=faces["biden"])
    r = client.search_users_by_image(CollectionId=cid, Image={"Bytes": photo("test/obama1.jpg")})
    assert {m["User"]["UserId"] for m in r["UserMatches"]} == {"barack", "barack-again"}
    assert all(m["Similarity"] >= 80 for m in r["UserMatches"])
    assert len(r["SearchedFace"]["FaceDetail"]["Landmarks"]) == 30
    r = client.search_users_by_image(
        CollectionId=cid, Image={"Bytes": photo("test/obama_and_biden.jpg")}
    )
    assert r["UnsearchedFaces"] and all(
        "FACE_NOT_LARGEST" in u["Reasons"] for u in r["UnsearchedFaces"]
    )
    r = client.search_users(CollectionId=cid, FaceId=faces["kit_harington"][0])
    assert r["UserMatches"] == [] and r["SearchedFace"] == {"FaceId": faces["kit_harington"][0]}
    r = client.search_users(CollectionId=cid, UserId="barack")
    assert [m["User"]["UserId"] for m in r["UserMatches"]] == ["barack-again"]  # never itself
    assert r["SearchedUser"] == {"UserId": "barack"}
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_users(CollectionId=cid)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.search_users(CollectionId=cid, UserId="nobody")


def test_client_request_token_idempotency(client, coll) -> None:
    cid, faces = coll
    token = uuid.uuid4().hex
    client.create_user(CollectionId=cid, UserId="a", ClientRequestToken=token)
    client.create_user(CollectionId=cid, UserId="a", ClientRequestToken=token)  # a retry
    with pytest.raises(client.exceptions.IdempotentParameterMismatchException):
        client.create_user(CollectionId=cid, UserId="b", ClientRequestToken=token)
    t2 = uuid.uuid4().hex
    first = client.associate_faces(
        CollectionId=cid, UserId="a", FaceIds=faces["obama"][:1], ClientRequestToken=t2
    )
    client.disassociate_faces(CollectionId=cid, UserId="a", FaceIds=faces["obama"][:1])
    again = client.associate_faces(
        CollectionId=cid, UserId="a", FaceIds=faces["obama"][:1], ClientRequestToken=t2
    )
    first.pop("ResponseMetadata")
    again.pop("ResponseMetadata")
    assert again == first  # the stored answer, not a second association
    assert client.list_faces(CollectionId=cid, UserId="a")["Faces"] == []


def test_user_limits(client, coll) -> None:
    cid, _ = coll
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.associate_faces(CollectionId=cid, UserId="ghost", FaceIds=[str(uuid.uuid4())])
    with pytest.raises(ClientError) as e:
        client.create_user(CollectionId="no-such-collection", UserId="x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.associate_faces(
            CollectionId=cid, UserId="x", FaceIds=[str(uuid.uuid4()) for _ in range(101)]
        )


def test_user_scored_by_mean_of_faces(client, coll) -> None:
    """A User's Similarity is the cosine of the query to the mean of their faces' vectors
    (docs/face-matching.md), rebuilt here from the faces' own search scores."""
    cid, faces = coll
    client.create_user(CollectionId=cid, UserId="barack")
    client.associate_faces(CollectionId=cid, UserId="barack", FaceIds=faces["obama"])
    query = {"Bytes": photo("test/obama1.jpg")}
    by_face = client.search_faces_by_image(CollectionId=cid, Image=query, FaceMatchThreshold=0)
    cos = {m["Face"]["FaceId"]: cosine_at(m["Similarity"]) for m in by_face["FaceMatches"]}
    a, b = faces["obama"]
    pair = client.search_faces(CollectionId=cid, FaceId=a, FaceMatchThreshold=0)["FaceMatches"]
    (ab,) = [cosine_at(m["Similarity"]) for m in pair if m["Face"]["FaceId"] == b]
    expected = (cos[a] + cos[b]) / math.sqrt(2 + 2 * ab)
    (user,) = client.search_users_by_image(CollectionId=cid, Image=query)["UserMatches"]
    assert user["User"]["UserId"] == "barack"
    assert cosine_at(user["Similarity"]) == pytest.approx(expected, abs=1e-4)
    assert expected > max(cos[a], cos[b]) + 1e-3  # not the best face's score


def test_search_users_by_face_leaves_that_face_out_of_its_user(client, coll) -> None:
    """Searched by one of a User's faces, the User is scored by their other faces only."""
    cid, faces = coll
    a, b = faces["obama"]
    client.create_user(CollectionId=cid, UserId="barack")
    client.associate_faces(CollectionId=cid, UserId="barack", FaceIds=[a, b])
    pair = client.search_faces(CollectionId=cid, FaceId=a)["FaceMatches"]
    (ab,) = [m["Similarity"] for m in pair if m["Face"]["FaceId"] == b]
    (user,) = client.search_users(CollectionId=cid, FaceId=a)["UserMatches"]
    assert user["User"]["UserId"] == "barack"
    assert user["Similarity"] == pytest.approx(ab, abs=1e-3)
