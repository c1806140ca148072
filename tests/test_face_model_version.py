"""FaceModelVersion and IndexFacesModelVersion are numbers (the service model's pattern
[0-9.]+), also for collections stored when oculi answered its model names."""

from __future__ import annotations

import numpy as np

from oculi.models.face_versions import CURRENT, VERSIONS, numeric
from oculi.store.faces import FaceRecord, FaceStore
from oculi.vision.embed import FaceEmbedder
from tests.conftest import FIXTURES, Server
from tests.shapes import WireAnswers

LEGACY = "oculi-sface-flip-1.0"  # what oculi stored and answered before the numbers


def test_versions_are_numbers() -> None:
    assert FaceEmbedder.version == CURRENT.number == "1.0"
    assert all(v.number.replace(".", "").isdigit() for v in VERSIONS)
    assert numeric(LEGACY) == "1.0" and numeric("1.0") == "1.0"


def test_legacy_store_answers_numbers(tmp_path) -> None:
    store = FaceStore(tmp_path / "data" / "faces.sqlite3")
    store.create_collection("old", LEGACY)
    vec = np.random.default_rng(0).normal(size=(1, 128)).astype(np.float32)
    face = FaceRecord(
        face_id="11111111-2222-3333-4444-555555555555",
        collection_id="old",
        image_id="66666666-7777-8888-9999-000000000000",
        external_image_id=None,
        bbox={"Width": 0.2, "Height": 0.3, "Left": 0.1, "Top": 0.1},
        confidence=99.0,
        model_version=LEGACY,
        created=0.0,
    )
    store.add_faces("old", [face], vec / np.linalg.norm(vec))
    assert store.set_face_model_version("old", "1.0")  # the old name is the same version
    store.close()
    srv = Server(tmp_path)
    try:
        c = srv.client()
        wire = WireAnswers(c)
        c.create_collection(CollectionId="new")
        assert c.describe_collection(CollectionId="old")["FaceModelVersion"] == "1.0"
        listed = c.list_collections()
        assert listed["FaceModelVersions"] == ["1.0", "1.0"]
        (old,) = c.list_faces(CollectionId="old")["Faces"]
        assert old["IndexFacesModelVersion"] == "1.0"
        photo = (FIXTURES / "people/train/obama/obama.jpg").read_bytes()
        r = c.index_faces(CollectionId="old", Image={"Bytes": photo})
        assert r["FaceModelVersion"] == "1.0"
        assert r["FaceRecords"][0]["Face"]["IndexFacesModelVersion"] == "1.0"
        headers = r["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-oculi-face-model"] == "oculi-sface-flip-1.0"  # oculi's name for 1.0
        assert c.search_faces(CollectionId="old", FaceId=old["FaceId"])["FaceModelVersion"] == "1.0"
        r = c.search_faces_by_image(CollectionId="old", Image={"Bytes": photo})
        assert r["FaceModelVersion"] == "1.0"
        assert set(wire.check()) >= {
            "CreateCollection",
            "DescribeCollection",
            "ListCollections",
            "ListFaces",
            "IndexFaces",
            "SearchFaces",
            "SearchFacesByImage",
        }
    finally:
        srv.stop()
