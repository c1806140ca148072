"""Collections, IndexFaces, search and CompareFaces through boto3 against a real server."""

from __future__ import annotations

import threading
import uuid

import cv2
import numpy as np
import pytest

from oculi.service.context import ANN_DIR
from oculi.store.names import storage_name
from tests.conftest import FIXTURES, Server, fixture_bytes

PEOPLE = FIXTURES / "people"


def photo(rel: str) -> bytes:
    return (PEOPLE / rel).read_bytes()


def new_id() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def people(client):
    """A collection holding the 9 training photos, one face each, ExternalImageId = name."""
    cid = new_id()
    client.create_collection(CollectionId=cid)
    for path in sorted((PEOPLE / "train").glob("*/*")):
        r = client.index_faces(
            CollectionId=cid,
            Image={"Bytes": path.read_bytes()},
            ExternalImageId=path.parent.name,
            MaxFaces=1,
        )
        assert len(r["FaceRecords"]) == 1, path
    yield cid
    client.delete_collection(CollectionId=cid)


def test_collection_lifecycle(client) -> None:
    cid = new_id()
    r = client.create_collection(CollectionId=cid)
    assert r["StatusCode"] == 200 and r["CollectionArn"].endswith(f":collection/{cid}")
    assert r["FaceModelVersion"]
    with pytest.raises(client.exceptions.ResourceAlreadyExistsException):
        client.create_collection(CollectionId=cid)
    d = client.describe_collection(CollectionId=cid)
    assert d["FaceCount"] == 0 and d["CollectionARN"] == r["CollectionArn"]
    assert cid in client.list_collections()["CollectionIds"]
    assert client.delete_collection(CollectionId=cid)["StatusCode"] == 200
    for call in (
        lambda: client.describe_collection(CollectionId=cid),
        lambda: client.delete_collection(CollectionId=cid),
        lambda: client.list_faces(CollectionId=cid),
        lambda: client.index_faces(CollectionId=cid, Image={"Bytes": b"x"}),
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            call()


def test_list_collections_pagination(client) -> None:
    ids = sorted(new_id() for _ in range(5))
    for cid in ids:
        client.create_collection(CollectionId=cid)
    seen = []
    pages = client.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 2})
    for page in pages:
        assert len(page["CollectionIds"]) <= 2
        seen += page["CollectionIds"]
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    for cid in ids:
        client.delete_collection(CollectionId=cid)
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        client.list_collections(NextToken="garbage!!")


def test_index_faces_records(client, people) -> None:
    assert client.describe_collection(CollectionId=people)["FaceCount"] == 9
    faces = [
        f
        for p in client.get_paginator("list_faces").paginate(
            CollectionId=people, PaginationConfig={"PageSize": 4}
        )
        for f in p["Faces"]
    ]
    assert len(faces) == 9 and len({f["FaceId"] for f in faces}) == 9
    assert {f["ExternalImageId"] for f in faces} == {
        "alex_lacamoire",
        "biden",
        "kit_harington",
        "obama",
        "rose_leslie",
    }
    for f in faces:
        assert f["IndexFacesModelVersion"] and 0 < f["BoundingBox"]["Width"] <= 1


def test_index_faces_max_faces_and_unindexed(client) -> None:
    cid = new_id()
    client.create_collection(CollectionId=cid)
    r = client.index_faces(
        CollectionId=cid,
        Image={"Bytes": photo("test/obama_and_biden.jpg")},
        MaxFaces=1,
        QualityFilter="NONE",
        DetectionAttributes=["DEFAULT"],
    )
    # Three faces: Biden, Obama and a child in the corner (checked by drawing them).
    assert len(r["FaceRecords"]) == 1
    assert [u["Reasons"] for u in r["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]] * 2
    rec = r["FaceRecords"][0]
    assert len(rec["FaceDetail"]["Landmarks"]) == 30 and rec["Face"]["ImageId"]
    r = client.index_faces(CollectionId=cid, Image={"Bytes": photo("test/obama_and_biden.jpg")})
    assert len(r["FaceRecords"]) == 3  # AUTO lets all three clear faces in
    assert r["FaceRecords"][0]["Face"]["ImageId"] == r["FaceRecords"][1]["Face"]["ImageId"]
    client.delete_collection(CollectionId=cid)


def test_auto_indexes_a_softly_blurred_face_that_search_still_finds(client) -> None:
    """AUTO's sharpness bar (10) was set where LFW's refused photos stopped being found by
    search; MEDIUM's (20) still refuses this face (Sharpness about 14 after a blur of 1/45
    of the face's width), and the blurred enrolment is found with Obama's other photo."""
    rgb = cv2.imdecode(np.frombuffer(photo("train/obama/obama.jpg"), np.uint8), cv2.IMREAD_COLOR)
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.GaussianBlur(rgb, (0, 0), 5), [cv2.IMWRITE_JPEG_QUALITY, 95]
    )
    assert ok
    cid = new_id()
    client.create_collection(CollectionId=cid)
    medium = client.index_faces(
        CollectionId=cid, Image={"Bytes": jpeg.tobytes()}, QualityFilter="MEDIUM"
    )
    assert medium["FaceRecords"] == []
    assert [u["Reasons"] for u in medium["UnindexedFaces"]] == [["LOW_SHARPNESS"]]
    sharpness = medium["UnindexedFaces"][0]["FaceDetail"]["Quality"]["Sharpness"]
    assert 10 <= sharpness < 20
    auto = client.index_faces(CollectionId=cid, Image={"Bytes": jpeg.tobytes()})
    assert len(auto["FaceRecords"]) == 1 and auto["UnindexedFaces"] == []
    r = client.search_faces_by_image(
        CollectionId=cid, Image={"Bytes": photo("train/obama/obama2.jpg")}
    )
    assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [
        auto["FaceRecords"][0]["Face"]["FaceId"]
    ]
    client.delete_collection(CollectionId=cid)


def test_auto_does_not_refuse_upright_faces_in_near_profile(client) -> None:
    """An audience turned toward a stage: the mesh model finds none of the three near-profile
    faces, their pose comes from the detector's points (yaw about 57-62, roll near 0) and
    none is refused as EXTREME_POSE (two are, rightly, LOW_BRIGHTNESS: the hall is dark);
    Obama's (yaw 57) is indexed and found with his portrait at Similarity 99."""
    cid = new_id()
    client.create_collection(CollectionId=cid)
    r = client.index_faces(
        CollectionId=cid, Image={"Bytes": fixture_bytes("audience_profiles.jpg")}
    )
    faces = [(f["FaceDetail"], []) for f in r["FaceRecords"]]
    faces += [(u["FaceDetail"], u["Reasons"]) for u in r["UnindexedFaces"]]
    turned = [(d, why) for d, why in faces if d["BoundingBox"]["Height"] > 0.25]
    assert len(turned) == 3  # the three nearest people, 94-105 px tall in 360
    for d, why in turned:
        assert abs(d["Pose"]["Roll"]) < 15 and d["Pose"]["Yaw"] > 45
        assert "EXTREME_POSE" not in why
    m = client.search_faces_by_image(
        CollectionId=cid, Image={"Bytes": photo("train/obama/obama2.jpg")}
    )["FaceMatches"]
    assert len(m) == 1 and m[0]["Similarity"] >= 99
    assert 0.45 < m[0]["Face"]["BoundingBox"]["Left"] < 0.52  # Obama's seat: x 314-382 px
    client.delete_collection(CollectionId=cid)


@pytest.mark.parametrize(
    "query,expected",
    [
        ("test/obama1.jpg", "obama"),
        ("test/johnsnow_test1.jpg", "kit_harington"),
        ("test/kit_with_rose.jpg", "kit_harington"),  # the largest face is searched
    ],
)
def test_search_faces_by_image_finds_the_person(client, people, query, expected) -> None:
    r = client.search_faces_by_image(CollectionId=people, Image={"Bytes": photo(query)})
    assert r["FaceMatches"], query
    assert {m["Face"]["ExternalImageId"] for m in r["FaceMatches"]} == {expected}
    sims = [m["Similarity"] for m in r["FaceMatches"]]
    assert sims == sorted(sims, reverse=True) and all(80 <= s <= 100 for s in sims)
    assert 0 < r["SearchedFaceBoundingBox"]["Width"] <= 1


def test_search_faces_by_image_stranger_has_no_match(client, people) -> None:
    cid = new_id()
    client.create_collection(CollectionId=cid)
    client.index_faces(CollectionId=cid, Image={"Bytes": photo("train/biden/biden.jpg")})
    r = client.search_faces_by_image(CollectionId=cid, Image={"Bytes": photo("test/obama1.jpg")})
    assert r["FaceMatches"] == []
    client.delete_collection(CollectionId=cid)


def test_search_no_face_in_image(client, people) -> None:
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_faces_by_image(CollectionId=people, Image={"Bytes": _blank_jpeg()})


def _blank_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(buf, format="JPEG")
    return buf.getvalue()


def test_search_faces_by_face_id(client, people) -> None:
    faces = client.list_faces(CollectionId=people, MaxResults=100)["Faces"]
    obama = [f for f in faces if f["ExternalImageId"] == "obama"]
    r = client.search_faces(CollectionId=people, FaceId=obama[0]["FaceId"])
    assert r["SearchedFaceId"] == obama[0]["FaceId"]
    assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [obama[1]["FaceId"]]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_faces(CollectionId=people, FaceId=str(uuid.uuid4()))


def test_delete_faces_holds(client) -> None:
    cid = new_id()
    client.create_collection(CollectionId=cid)
    rec = client.index_faces(CollectionId=cid, Image={"Bytes": photo("train/obama/obama.jpg")})
    fid = rec["FaceRecords"][0]["Face"]["FaceId"]
    query = {"Bytes": photo("test/obama1.jpg")}
    assert client.search_faces_by_image(CollectionId=cid, Image=query)["FaceMatches"]
    missing = str(uuid.uuid4())
    r = client.delete_faces(CollectionId=cid, FaceIds=[fid, missing])
    assert r["DeletedFaces"] == [fid]
    assert r["UnsuccessfulFaceDeletions"] == [{"FaceId": missing, "Reasons": ["FACE_NOT_FOUND"]}]
    assert client.search_faces_by_image(CollectionId=cid, Image=query)["FaceMatches"] == []
    assert client.list_faces(CollectionId=cid)["Faces"] == []
    client.delete_collection(CollectionId=cid)


def test_compare_faces(client) -> None:
    r = client.compare_faces(
        SourceImage={"Bytes": photo("test/obama1.jpg")},
        TargetImage={"Bytes": photo("test/obama_and_biden.jpg")},
    )
    assert len(r["FaceMatches"]) == 1 and len(r["UnmatchedFaces"]) == 2
    match = r["FaceMatches"][0]
    assert match["Similarity"] >= 80
    assert {lm["Type"] for lm in match["Face"]["Landmarks"]} == {
        "eyeLeft",
        "eyeRight",
        "mouthLeft",
        "mouthRight",
        "nose",
    }
    assert 0 < r["SourceImageFace"]["BoundingBox"]["Width"] <= 1
    # Obama stands right of Biden in obama_and_biden.jpg; the child is lower still.
    biden = min(r["UnmatchedFaces"], key=lambda f: f["BoundingBox"]["Left"])
    assert match["Face"]["BoundingBox"]["Left"] > biden["BoundingBox"]["Left"]
    r = client.compare_faces(
        SourceImage={"Bytes": photo("test/obama1.jpg")},
        TargetImage={"Bytes": photo("test/obama_and_biden.jpg")},
        SimilarityThreshold=0,
    )
    assert len(r["FaceMatches"]) == 3 and r["UnmatchedFaces"] == []


def test_compare_faces_errors(client) -> None:
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.compare_faces(
            SourceImage={"Bytes": _blank_jpeg()}, TargetImage={"Bytes": photo("test/obama1.jpg")}
        )
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.compare_faces(
            SourceImage={"Bytes": photo("test/obama1.jpg")}, TargetImage={"Bytes": b"nope"}
        )
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.compare_faces(
            SourceImage={"Bytes": photo("test/obama1.jpg")},
            TargetImage={"Bytes": photo("test/obama1.jpg")},
            SimilarityThreshold=101,
        )


def test_parameter_constraints(client) -> None:
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.create_collection(CollectionId="bad id with spaces")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_faces(CollectionId="x", FaceId="not-a-uuid")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_faces(CollectionId="x", MaxResults=5000)


def test_concurrent_indexing_and_search_lose_nothing(client) -> None:
    cid = new_id()
    client.create_collection(CollectionId=cid)
    paths = sorted((PEOPLE / "train").glob("*/*"))
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            for path in paths[n::3]:
                r = client.index_faces(
                    CollectionId=cid, Image={"Bytes": path.read_bytes()}, MaxFaces=1
                )
                with lock:
                    ids.extend(f["Face"]["FaceId"] for f in r["FaceRecords"])
                client.search_faces_by_image(
                    CollectionId=cid, Image={"Bytes": photo("test/obama1.jpg")}
                )
        except BaseException as e:  # noqa: BLE001 - collected and re-raised below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    listed = {f["FaceId"] for f in client.list_faces(CollectionId=cid, MaxResults=100)["Faces"]}
    assert listed == set(ids) and len(ids) == len(paths)
    client.delete_collection(CollectionId=cid)


def test_collection_past_the_ann_threshold_searches_and_survives_restart(tmp_path) -> None:
    """With the threshold at 4 faces, the 9 training faces are searched by the AnnIndex,
    whose snapshot goes with a deletion (it held the deleted face), is written again at a
    clean stop and loaded (not rebuilt) on restart; deletions hold before and after."""
    env = {"OCULI_ANN_THRESHOLD": "4"}
    server = Server(tmp_path, env=env)
    try:
        c = server.client()
        c.create_collection(CollectionId="big")
        ids: dict[str, list[str]] = {}
        for path in sorted((PEOPLE / "train").glob("*/*")):
            r = c.index_faces(
                CollectionId="big",
                Image={"Bytes": path.read_bytes()},
                ExternalImageId=path.parent.name,
                MaxFaces=1,
            )
            ids.setdefault(path.parent.name, []).append(r["FaceRecords"][0]["Face"]["FaceId"])
        snapshot = server.data_dir / ANN_DIR / f"{storage_name('big')}.ann"
        assert snapshot.exists()  # crossed the threshold: built and saved
        obama, biden = ids["obama"], ids["biden"]

        def found(cl, query: str) -> set[str]:
            r = cl.search_faces_by_image(CollectionId="big", Image={"Bytes": photo(query)})
            return {m["Face"]["FaceId"] for m in r["FaceMatches"]}

        assert found(c, "test/obama1.jpg") == set(obama)
        r = c.search_faces(CollectionId="big", FaceId=biden[0])
        assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [biden[1]]
        assert c.delete_faces(CollectionId="big", FaceIds=[obama[0]])["DeletedFaces"] == [obama[0]]
        assert found(c, "test/obama1.jpg") == {obama[1]}  # honoured at once
        assert not snapshot.exists()  # it held obama[0]
    finally:
        server.stop()
    saved = snapshot.read_bytes()  # written again at the clean stop, without obama[0]
    assert obama[0].encode() not in saved and obama[1].encode() in saved
    server = Server(tmp_path, env=env)
    try:
        c = server.client()
        assert found(c, "test/obama1.jpg") == {obama[1]}
        assert found(c, "test/johnsnow_test1.jpg") == set(ids["kit_harington"])
        r = c.search_faces(CollectionId="big", FaceId=biden[1])
        assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [biden[0]]
        assert snapshot.read_bytes() == saved  # loaded, not rebuilt
        c.delete_faces(CollectionId="big", FaceIds=[biden[0]])
        r = c.search_faces(CollectionId="big", FaceId=biden[1])
        assert r["FaceMatches"] == []
        assert c.describe_collection(CollectionId="big")["FaceCount"] == 7
    finally:
        server.stop()
