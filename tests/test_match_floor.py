"""The identity floor at a collection's size: the rule, and through boto3 against a server
whose operator floor is 80 (tests/conftest.py)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from oculi.api.operations import apply_match_floor
from oculi.service.match_floor import STRANGERS_PER_SEARCH, size_floor, size_statement
from oculi.vision.similarity import cosine_at, false_match_rate, similarity, similarity_at
from tests.conftest import FIXTURES

PEOPLE = FIXTURES / "people"


def test_similarity_states_false_match_rates() -> None:
    assert false_match_rate(80) == pytest.approx(1e-4)
    assert false_match_rate(99) == pytest.approx(1e-6)
    for level in (1.0, 50.0, 80.0, 90.0, 99.0, 99.99):
        assert similarity_at(false_match_rate(level)) == pytest.approx(level)
        assert float(similarity(cosine_at(level))) == pytest.approx(level)
    levels = similarity(np.linspace(-1, 1, 201))
    assert np.all(np.diff(levels) > 0) and levels[0] >= 0 and levels[-1] <= 100


@pytest.mark.parametrize("faces", [1, 10, 1_000, 123_456, 10_000_000])
def test_size_floor_bounds_strangers_per_search(faces: int) -> None:
    floor = size_floor(faces)
    assert faces * false_match_rate(floor) == pytest.approx(STRANGERS_PER_SEARCH)
    assert size_floor(faces * 2) > floor
    assert cosine_at(size_floor(faces * 2)) > cosine_at(floor)


def test_size_floor_anchors() -> None:
    assert size_floor(10) == pytest.approx(80)  # 1e-3 / 10 faces = 1e-4 per comparison
    assert size_floor(1_000) == pytest.approx(99)
    assert size_floor(0) == size_floor(1)


def test_apply_match_floor_raises_with_size() -> None:
    params: dict = {"FaceMatchThreshold": 80.0}
    notice = apply_match_floor("SearchFacesByImage", params, 99.0, faces=50_000)
    assert params["FaceMatchThreshold"] == pytest.approx(size_floor(50_000)) and notice
    assert "collection of 50000 faces" in notice and "99.9" in notice
    params = {}  # the default threshold, a small collection: the operator's floor decides
    notice = apply_match_floor("SearchUsersByImage", params, 99.0, faces=5)
    assert params["UserMatchThreshold"] == 99.0
    assert notice and "operator's identity floor 99" in notice
    params = {"FaceMatchThreshold": 99.99}  # already above both: untouched, nothing said
    assert apply_match_floor("SearchFaces", params, 99.0, faces=100) is None
    assert params == {"FaceMatchThreshold": 99.99}
    params = {"FaceMatchThreshold": 10.0}  # no collection (the search will say so)
    assert "operator's" in (apply_match_floor("SearchFaces", params, 99.0, faces=None) or "")
    assert params["FaceMatchThreshold"] == 99.0


def test_compare_faces_notice_states_the_rate() -> None:
    notice = apply_match_floor("CompareFaces", {"SimilarityThreshold": 80.0}, 99.0)
    assert notice and "1.0e-04 per comparison" in notice


@pytest.fixture(scope="module")
def crowd(client):
    """The 9 training photos indexed twice: 18 faces, more than the operator's floor of 80
    covers (80 keeps 1 in 1,000 searches by strangers clear of at most 10 faces)."""
    cid = f"c-{uuid.uuid4().hex[:12]}"
    client.create_collection(CollectionId=cid)
    for _ in range(2):
        for path in sorted((PEOPLE / "train").glob("*/*")):
            client.index_faces(
                CollectionId=cid,
                Image={"Bytes": path.read_bytes()},
                ExternalImageId=path.parent.name,
                MaxFaces=1,
            )
    yield cid
    client.delete_collection(CollectionId=cid)


def test_search_threshold_rises_with_collection_size(client, crowd) -> None:
    r = client.search_faces_by_image(
        CollectionId=crowd,
        FaceMatchThreshold=80,
        Image={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()},
    )
    notice = r["ResponseMetadata"]["HTTPHeaders"]["x-oculi-notice"]
    assert f"raised to {size_floor(18):.3f} for a collection of 18 faces" in notice
    assert {m["Face"]["ExternalImageId"] for m in r["FaceMatches"]} == {"obama"}
    assert all(m["Similarity"] >= size_floor(18) for m in r["FaceMatches"])
    # A group photo of people enrolled nowhere: its largest face is nobody here.
    r = client.search_faces_by_image(
        CollectionId=crowd,
        FaceMatchThreshold=80,
        Image={"Bytes": (FIXTURES / "2008_002079.jpg").read_bytes()},
    )
    assert r["FaceMatches"] == []
    assert "18 faces" in r["ResponseMetadata"]["HTTPHeaders"]["x-oculi-notice"]
    # Users are searched against the same faces.
    r = client.search_users_by_image(
        CollectionId=crowd,
        UserMatchThreshold=80,
        Image={"Bytes": (FIXTURES / "2008_002079.jpg").read_bytes()},
    )
    assert r["UserMatches"] == []
    assert "18 faces" in r["ResponseMetadata"]["HTTPHeaders"]["x-oculi-notice"]


def test_service_searches_and_redaction_apply_the_rule(tmp_path) -> None:
    """Below the API: Collections.search_vector raises any threshold to the size floor, and
    redaction keeps members visible (faces=except) only above it; covering members only
    (faces=only) uses the threshold given."""
    from oculi.service.context import ServiceContext
    from oculi.service.redact import RedactOptions, redact_image
    from oculi.settings import Settings
    from oculi.vision.decode import decode

    ctx = ServiceContext(Settings(data_dir=tmp_path))
    cols = ctx.collections()
    cols.create("crowd")
    for _ in range(2):
        for path in sorted((PEOPLE / "train").glob("*/*")):
            cols.index_faces("crowd", decode(path.read_bytes()).rgb, path.parent.name, 1, "AUTO")
    assert cols.describe("crowd").face_count == 18
    rgb = decode((PEOPLE / "test/obama1.jpg").read_bytes()).rgb
    query = cols.embedder(rgb, cols.analyzer.analyze(rgb))[0]
    sized = cols.search_vector("crowd", query, 18, 0.0)
    assert {m.record.external_image_id for m in sized} == {"obama"}
    assert all(m.similarity >= size_floor(18) for m in sized)
    everyone = cols.search_vector("crowd", query, 18, 0.0, sized=False)
    assert len(everyone) == 18 and min(m.similarity for m in everyone) < 80
    group = decode((PEOPLE / "test/obama_and_biden.jpg").read_bytes()).rgb
    analyzer = ctx.face_analyzer()
    # one scale, the detectors' usual score: only the three real faces (the crowd settings
    # also cover doubtful boxes, which would blur what this test counts)
    plain = {"scales": (1.0,), "min_score": 0.6}
    opts = RedactOptions("fill", "except", "crowd", 0, **plain)
    assert len(redact_image(analyzer, cols, group, opts)[1]) == 1  # the child, enrolled nowhere
    opts = RedactOptions("fill", "only", "crowd", 0, **plain)
    assert len(redact_image(analyzer, cols, group, opts)[1]) == 3  # at 0 everyone "matches"


def test_operator_may_turn_the_size_rule_off() -> None:
    """OCULI_STRANGERS_PER_SEARCH=0 leaves only the operator's floor (tools/crash_test.py
    asks for every face of a collection this way)."""
    assert size_floor(1_000_000, 0) == 0.0
    params = {"CollectionId": "c", "FaceMatchThreshold": 10.0}
    assert apply_match_floor("SearchFaces", params, 0.0, 50_000, 0) is None
    assert params["FaceMatchThreshold"] == 10.0
    assert size_floor(1_000, 1e-2) < size_floor(1_000) < size_floor(1_000, 1e-4)


def test_describe_collection_says_what_a_match_means(client, crowd) -> None:
    r = client.describe_collection(CollectionId=crowd)
    assert r["FaceCount"] == 18
    notice = r["ResponseMetadata"]["HTTPHeaders"]["x-oculi-notice"]
    assert notice == size_statement(18, 80.0)  # the test server's floor is 80
    assert f"at Similarity {size_floor(18):.3f} or above" in notice
    assert "so about 1.0e-03 of searches" in notice
    assert "match at Similarity 99.998" in size_statement(10_000_000, 99.0)
