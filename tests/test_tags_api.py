"""TagResource, UntagResource, ListTagsForResource and CreateCollection's Tags, through
boto3 against a real server, on Rekognition's limits and errors."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from oculi.errors import AccessDenied
from oculi.permissions import KeySpec, authorize
from tests.shapes import WireAnswers


def code_of(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e.value.response["Error"]["Code"]


@pytest.fixture()
def tagged(client):
    cid = f"t-{uuid.uuid4().hex[:10]}"
    arn = client.create_collection(CollectionId=cid, Tags={"team": "vision", "env": ""})[
        "CollectionArn"
    ]
    yield cid, arn
    try:
        client.delete_collection(CollectionId=cid)
    except ClientError:
        pass


def test_tags_round_trip(client, tagged) -> None:
    wire = WireAnswers(client)
    cid, arn = tagged
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "vision", "env": ""}
    client.tag_resource(ResourceArn=arn, Tags={"team": "faces", "owner": "ana@example.org"})
    # The ARN with the "arn:" prefix, as clients write it, names the same collection.
    full = "arn:" + arn
    assert client.list_tags_for_resource(ResourceArn=full)["Tags"] == {
        "team": "faces",
        "env": "",
        "owner": "ana@example.org",
    }
    client.untag_resource(ResourceArn=full, TagKeys=["env", "not-there"])
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {
        "team": "faces",
        "owner": "ana@example.org",
    }
    describe = client.describe_collection(CollectionId=cid)
    assert describe["CollectionARN"] == arn
    assert {"ListTagsForResource", "TagResource", "UntagResource"} <= set(wire.check())


def test_tags_go_with_the_collection(client, tagged) -> None:
    cid, arn = tagged
    client.delete_collection(CollectionId=cid)
    client.create_collection(CollectionId=cid)
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}


def test_tag_limits_and_errors(client, tagged) -> None:
    _, arn = tagged
    for bad in (
        {"aws:owner": "x"},
        {"AWS:owner": "x"},
        {"k" * 129: "x"},
        {"ok": "v" * 257},
        {"semi;colon": "x"},
        {"ok": "new\nline"},
    ):
        assert code_of(lambda bad=bad: client.tag_resource(ResourceArn=arn, Tags=bad)) == (
            "InvalidParameterException"
        ), bad
    assert (
        code_of(lambda: client.untag_resource(ResourceArn=arn, TagKeys=["aws:x"]))
        == "InvalidParameterException"
    )
    assert (
        code_of(lambda: client.create_collection(CollectionId="t-bad", Tags={"aws:x": "y"}))
        == "InvalidParameterException"
    )
    assert "t-bad" not in client.list_collections()["CollectionIds"]
    # Unicode letters, numbers and spaces are allowed, as the service model's \p{L}\p{Z}\p{N}.
    client.tag_resource(ResourceArn=arn, Tags={"Gebäude 7": "Zürich ٣", "k" * 128: "v" * 256})
    assert len(client.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 4
    # 200 tags at most on a resource: 196 more fit, one past that is a quota error.
    client.tag_resource(ResourceArn=arn, Tags={f"n{i}": str(i) for i in range(196)})
    assert (
        code_of(lambda: client.tag_resource(ResourceArn=arn, Tags={"one-more": "x"}))
        == "ServiceQuotaExceededException"
    )
    assert len(client.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 200
    client.tag_resource(ResourceArn=arn, Tags={"n0": "overwritten"})  # not a new key
    assert (
        code_of(
            lambda: client.tag_resource(ResourceArn=arn, Tags={f"m{i}": "" for i in range(201)})
        )
        == "InvalidParameterException"
    )


def test_unknown_resources(client) -> None:
    region, account = "us-east-1", "000000000000"
    for arn in (
        f"arn:aws:rekognition:{region}:{account}:collection/no-such-collection",
        f"arn:aws:rekognition:eu-west-1:{account}:collection/no-such-collection",
        f"arn:aws:rekognition:{region}:123456789012:collection/x",
        f"arn:aws:rekognition:{region}:{account}:streamprocessor/sp1",
        "not an arn at all, just text",
    ):
        for call in (
            lambda arn=arn: client.list_tags_for_resource(ResourceArn=arn),
            lambda arn=arn: client.tag_resource(ResourceArn=arn, Tags={"a": "b"}),
            lambda arn=arn: client.untag_resource(ResourceArn=arn, TagKeys=["a"]),
        ):
            assert code_of(call) == "ResourceNotFoundException", arn


def test_collection_scoped_keys_cover_tag_operations() -> None:
    key = KeySpec("AK", "SK", collections={"read": ["staff"], "write": ["staff"]})
    staff = "arn:aws:rekognition:us-east-1:000000000000:collection/staff"
    other = "aws:rekognition:us-east-1:000000000000:collection/other"
    authorize(key, "TagResource", {"ResourceArn": staff, "Tags": {}})
    authorize(key, "ListTagsForResource", {"ResourceArn": staff})
    for op in ("TagResource", "UntagResource", "ListTagsForResource"):
        with pytest.raises(AccessDenied):
            authorize(key, op, {"ResourceArn": other})
