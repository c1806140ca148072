"""Stream processors through boto3: a FaceSearch processor over a real clip (file://) whose
records reach a real Kinesis data stream (moto), a ConnectedHome processor whose PERSON
events reach real SNS (read through an SQS subscription) and S3, the operations' errors,
pagination, tags and updates, credentials kept out of every answer, log and audit record,
and a processor that runs again after its server is killed."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import FIXTURES, REGION, Server, oculi_cli

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
CLIP_URL = CLIP.resolve().as_uri()
ROLE = "arn:aws:iam::000000000000:role/rekognition"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
SECRET = "s3cr3t-pa55"
# A camera that never answers (nothing listens on port 9 of loopback): sessions keep
# reconnecting, so the processor stays active.
DEAD_CAMERA = f"rtsp://admin:{SECRET}@127.0.0.1:9/stream1"
# A Kinesis video stream ARN that the operator's stream map names the clip for
FRONT_DOOR = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/front-door/1234567890123"


def aws(service: str, url: str):  # a boto3 client of moto's server
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def stream_env(moto: str) -> dict[str, str]:
    """AWS services on moto's server, configured the standard way; file:// inputs from the
    clip's folder only."""
    return {
        "AWS_ENDPOINT_URL_S3": moto,
        "AWS_ENDPOINT_URL_SNS": moto,
        "AWS_ENDPOINT_URL_KINESIS": moto,
        "OCULI_MATCH_FLOOR": "80",
        "OCULI_STREAM_FPS": "3",
        "OCULI_STREAM_FILE_DIR": str(CLIP.parent.resolve()),
        **CREDENTIALS,
    }


def stream_server(tmp: Path, moto: str, **env: str) -> Server:
    return Server(tmp, env={**stream_env(moto), **env})


@pytest.fixture(scope="module")
def sserver(tmp_path_factory: pytest.TempPathFactory, moto_s3: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("streams")
    (tmp / "streams.json").write_text(json.dumps({FRONT_DOOR: CLIP_URL}))
    srv = stream_server(
        tmp,
        moto_s3,
        OCULI_STREAM_MAP=str(tmp / "streams.json"),
        OCULI_STREAM_KEEP_FRAMES="1",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sclient(sserver: Server):
    return sserver.client()


@pytest.fixture(scope="module")
def cast(sclient) -> str:
    """A collection of the clip's two performers, from their reference stills."""
    sclient.create_collection(CollectionId="cast")
    for name in ("lin-manuel-miranda", "alex-lacamoire"):
        sclient.index_faces(
            CollectionId="cast",
            Image={"Bytes": (FIXTURES / f"video/{name}.jpg").read_bytes()},
            ExternalImageId=name,
            MaxFaces=1,
        )
    return "cast"


def kinesis_records(moto: str, name: str) -> list[dict]:
    """Every record of a one-shard Kinesis data stream."""
    kinesis = aws("kinesis", moto)
    shard = kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]


def kinesis_stream(moto: str, name: str) -> str:
    kinesis = aws("kinesis", moto)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def face_search_request(name: str, output_arn: str, collection: str = "cast") -> dict:
    return {
        "Name": name,
        "Input": {"KinesisVideoStream": {"Arn": CLIP_URL}},
        "Output": {"KinesisDataStream": {"Arn": output_arn}},
        "RoleArn": ROLE,
        "Settings": {"FaceSearch": {"CollectionId": collection, "FaceMatchThreshold": 85.0}},
    }


def home_request(name: str, arn: str = CLIP_URL, **extra) -> dict:
    return {
        "Name": name,
        "Input": {"KinesisVideoStream": {"Arn": arn}},
        "Output": {"S3Destination": {"Bucket": "events", "KeyPrefix": "home"}},
        "RoleArn": ROLE,
        "Settings": {"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 60.0}},
        **extra,
    }


def wait_status(client, name: str, wanted: set[str], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.describe_stream_processor(Name=name)
        if answer["Status"] in wanted:
            return answer
        time.sleep(0.5)
    raise TimeoutError(f"{name} never reached {wanted}: {answer}")


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def audit_records(srv: Server) -> list[dict]:
    path = srv.data_dir / "audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_face_search_processor_finds_the_performer(
    sclient, sserver: Server, moto_s3, cast: str
) -> None:
    output = kinesis_stream(moto_s3, "faces-out")
    arn = sclient.create_stream_processor(**face_search_request("stage", output))[
        "StreamProcessorArn"
    ]
    assert arn == "arn:aws:rekognition:us-east-1:000000000000:streamprocessor/stage"
    described = sclient.describe_stream_processor(Name="stage")
    assert described["Status"] == "STOPPED"
    assert described["Input"]["KinesisVideoStream"]["Arn"] == CLIP_URL
    assert described["Settings"]["FaceSearch"] == {"CollectionId": "cast", "FaceMatchThreshold": 85}
    session = sclient.start_stream_processor(Name="stage")["SessionId"]
    assert session
    with pytest.raises(ClientError) as e:
        sclient.start_stream_processor(Name="stage")
    assert code(e) == "ResourceInUseException"
    done = wait_status(sclient, "stage", {"STOPPED", "FAILED"})
    assert done["Status"] == "STOPPED" and done["StatusMessage"] == "The stream ended"

    records = kinesis_records(moto_s3, "faces-out")
    # at most 3 analysed frames a second of a 9 s clip, each a record, with faces or not
    # (fewer on a busy machine: the source drops the frames analysis cannot keep up with)
    assert 5 <= len(records) <= 30, len(records)
    offsets = []
    named: dict[str, list[float]] = {}
    for r in records:
        video = r["InputInformation"]["KinesisVideo"]
        assert video["StreamArn"] == CLIP_URL and r["StreamProcessorInformation"] == {
            "Status": "RUNNING"
        }
        assert set(video) == {
            "StreamArn",
            "FragmentNumber",
            "ProducerTimestamp",
            "ServerTimestamp",
            "FrameOffsetInSeconds",
        }
        offsets.append(video["FrameOffsetInSeconds"])
        for face in r["FaceSearchResponse"]:
            assert set(face["DetectedFace"]) == {
                "BoundingBox",
                "Confidence",
                "Landmarks",
                "Pose",
                "Quality",
            }
            for m in face["MatchedFaces"]:
                assert m["Similarity"] >= 85
                assert set(m["Face"]) >= {"FaceId", "ImageId", "ExternalImageId", "BoundingBox"}
                named.setdefault(m["Face"]["ExternalImageId"], []).append(
                    video["FrameOffsetInSeconds"]
                )
    assert offsets == sorted(offsets)
    # Miranda walks the stage from 2.8 s to 7.2 s (tests/test_video_api.py); he is found
    # there, and nobody in the audience from 7.2 s is taken for him
    miranda = named.get("lin-manuel-miranda", [])
    assert len([t for t in miranda if 2.8 <= t <= 7.2]) >= 2, named
    assert all(t < 0.9 or 2.7 <= t <= 7.3 for t in miranda), miranda
    matched_frames = sum(1 for r in records for f in r["FaceSearchResponse"] if f["MatchedFaces"])

    records_audited = audit_records(sserver)
    ops = [r["operation"] for r in records_audited]
    assert "CreateStreamProcessor" in ops and "StartStreamProcessor" in ops
    create = next(r for r in records_audited if r["operation"] == "CreateStreamProcessor")
    assert create["processor"] == "stage" and create["collection"] == "cast"
    matches = [r for r in records_audited if r["operation"] == "StreamProcessorMatch"]
    assert len(matches) >= 2 and all(r["processor"] == "stage" for r in matches)
    assert all(r["request_id"] == session and r["threshold"] == 85 for r in matches)
    assert sum(len(r["face_ids"]) for r in matches) >= matched_frames
    ended = [r for r in records_audited if r["operation"] == "StreamProcessorSession"]
    assert ended[-1]["phase"] == "ended" and ended[-1]["status"] == "STOPPED"

    # the local event log: every frame with a face, and the status changes
    run = oculi_cli("events", "--processor", "stage", "--data-dir", str(sserver.data_dir))
    assert run.returncode == 0, run.stderr
    entries = [json.loads(line) for line in run.stdout.splitlines()]
    kinds = [e["type"] for e in entries]
    assert "FaceSearch" in kinds and kinds[-1] == "STATUS"
    assert entries[-1]["event"] == {"Status": "STOPPED", "StatusMessage": "The stream ended"}
    assert all(e["processor"] == "stage" for e in entries)


def test_connected_home_person_events_reach_sns_and_s3(sclient, moto_s3) -> None:
    sns, sqs, s3 = aws("sns", moto_s3), aws("sqs", moto_s3), aws("s3", moto_s3)
    s3.create_bucket(Bucket="events")
    topic = sns.create_topic(Name="doorbell")["TopicArn"]
    queue = sqs.create_queue(QueueName="doorbell-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sclient.create_stream_processor(
        **home_request(
            "doorbell",
            arn=FRONT_DOOR,
            NotificationChannel={"SNSTopicArn": topic},
            Tags={"site": "front door"},
            RegionsOfInterest=[{"BoundingBox": {"Left": 0, "Top": 0, "Width": 1, "Height": 1}}],
            DataSharingPreference={"OptIn": False},
            KmsKeyId="doorbell-key",
        )
    )
    session = sclient.start_stream_processor(
        Name="doorbell", StopSelector={"MaxDurationInSeconds": 60}
    )["SessionId"]
    done = wait_status(sclient, "doorbell", {"STOPPED", "FAILED"})
    assert done["Status"] == "STOPPED", done
    messages: list[dict] = []
    deadline = time.monotonic() + 30
    while len(messages) < 2 and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
            envelope = json.loads(m["Body"])
            assert envelope["Subject"] == "Rekognition Stream Processing Event"
            messages.append(json.loads(envelope["Message"]))
    kinds = [m["eventNamespace"]["type"] for m in messages]
    assert kinds == ["LABEL_DETECTED", "STREAM_PROCESSING_COMPLETE"], kinds
    detected, complete = messages
    (person,) = detected["labels"]  # a label's first sighting only, once a session
    assert person["name"] == "PERSON" and person["confidence"] >= 60
    box = person["boundingBox"]
    assert set(box) == {"left", "top", "width", "height"} and 0 < box["width"] <= 1
    mapping = person["videoMapping"]["kinesisVideoMapping"]
    assert set(mapping) == {
        "fragmentNumber",
        "serverTimestamp",
        "producerTimestamp",
        "frameOffsetMillis",
    }
    # the frame and the person's crop, kept because the operator asked (KEEP_FRAMES)
    frame_uri, crop_uri = person["frameImageUri"], person["croppedImageUri"]
    for uri in (frame_uri, crop_uri):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        jpeg = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[2] == 3
    assert image.shape[0] * image.shape[1] < 640 * 360  # the crop is part of the frame
    for m in messages:
        assert m["inputInformation"]["kinesisVideo"]["streamArn"] == FRONT_DOOR
        assert m["sessionId"] == session and m["tags"] == {"site": "front door"}
        assert m["startStreamProcessorRequest"] == {
            "Name": "doorbell",
            "StopSelector": {"MaxDurationInSeconds": 60},
        }
    assert complete["streamProcessingResults"] == {"message": "Stream Processing Success."}
    processed = complete["inputInformation"]["kinesisVideo"]["processedVideoDurationMillis"]
    assert 7000 <= processed <= 9200
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="events")["Contents"])
    prefix = f"home/doorbell/{session}/"
    kept = [frame_uri, crop_uri]
    assert keys == sorted(
        [
            f"{prefix}labels/{detected['eventId']}.json",
            f"{prefix}summary.json",
            *(u.removeprefix("s3://events/") for u in kept),
        ]
    )
    summary = s3.get_object(Bucket="events", Key=f"{prefix}summary.json")
    assert json.loads(summary["Body"].read()) == complete
    assert summary["ServerSideEncryption"] == "aws:kms" and summary["SSEKMSKeyId"] == "doorbell-key"


def test_requests_oculi_refuses(sclient, moto_s3) -> None:
    output = kinesis_stream(moto_s3, "refused-out")
    sclient.create_collection(CollectionId="empty")
    bad = [
        {**face_search_request("x", output, "empty"), "Settings": {}},
        {
            **face_search_request("x", output),
            "Settings": {
                "FaceSearch": {"CollectionId": "empty"},
                "ConnectedHome": {"Labels": ["PERSON"]},
            },
        },
        face_search_request("x", output, collection="nobody"),
        {
            **face_search_request("x", output, "empty"),
            "Output": {"S3Destination": {"Bucket": "events"}},
        },
        {**home_request("x"), "Settings": {"ConnectedHome": {"Labels": ["CAR"]}}},
        home_request("x", RegionsOfInterest=[{"Polygon": [{"X": 0.1, "Y": 0.1}]}]),
        home_request(
            "x",
            RegionsOfInterest=[{"BoundingBox": {"Left": 0.5, "Top": 0, "Width": 0.9, "Height": 1}}],
        ),
        home_request("x", arn="file:///etc/passwd"),
        home_request("x", arn=(CLIP.parent / "../../conftest.py").as_uri()),
        home_request("x", arn="ftp://127.0.0.1/cam"),
        home_request("x", arn="arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam/1"),
        {**home_request("x"), "Tags": {"aws:reserved": "no"}},
        {**home_request("x"), "Name": "no spaces"},
    ]
    for request in bad:
        with pytest.raises(ClientError) as e:
            sclient.create_stream_processor(**request)
            pytest.fail(f"created {request}")
        assert code(e) == "InvalidParameterException", request
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    names = [p["Name"] for p in sclient.list_stream_processors()["StreamProcessors"]]
    assert "x" not in names

    sclient.create_stream_processor(**face_search_request("refusals", output, "empty"))
    with pytest.raises(ClientError) as e:
        sclient.create_stream_processor(**face_search_request("refusals", output, "empty"))
    assert code(e) == "ResourceInUseException"
    for call in (sclient.describe_stream_processor, sclient.start_stream_processor):
        with pytest.raises(ClientError) as e:
            call(Name="never-made")
        assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        sclient.stop_stream_processor(Name="refusals")  # STOPPED already
    assert code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:  # selectors are for ConnectedHome processors
        sclient.start_stream_processor(Name="refusals", StopSelector={"MaxDurationInSeconds": 10})
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        sclient.update_stream_processor(
            Name="refusals", SettingsForUpdate={"ConnectedHomeForUpdate": {"MinConfidence": 70}}
        )
    assert code(e) == "InvalidParameterException"
    sclient.create_stream_processor(**home_request("limits"))
    with pytest.raises(ClientError) as e:  # the model's limit: 1 to 120 seconds
        sclient.start_stream_processor(Name="limits", StopSelector={"MaxDurationInSeconds": 121})
    assert code(e) == "InvalidParameterException"
    assert sclient.describe_stream_processor(Name="limits")["Status"] == "STOPPED"


def test_list_pages_tags_update_and_delete(sclient) -> None:
    for name in ("page-a", "page-b", "page-c"):
        sclient.create_stream_processor(**home_request(name, Tags={"n": name}))
    pages = list(
        sclient.get_paginator("list_stream_processors").paginate(PaginationConfig={"PageSize": 2})
    )
    listed = [p["Name"] for page in pages for p in page["StreamProcessors"]]
    assert {"page-a", "page-b", "page-c"} <= set(listed) and listed == sorted(listed)
    assert all(len(page["StreamProcessors"]) <= 2 for page in pages)
    with pytest.raises(ClientError) as e:
        sclient.list_stream_processors(NextToken="not-a-token")
    assert code(e) == "InvalidPaginationTokenException"

    arn = "arn:aws:rekognition:us-east-1:000000000000:streamprocessor/page-a"
    assert sclient.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"n": "page-a"}
    sclient.tag_resource(ResourceArn=arn, Tags={"room": "hall"})
    sclient.untag_resource(ResourceArn=arn, TagKeys=["n"])
    assert sclient.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"room": "hall"}
    with pytest.raises(ClientError) as e:
        sclient.list_tags_for_resource(ResourceArn=arn.replace("page-a", "page-z"))
    assert code(e) == "ResourceNotFoundException"

    sclient.update_stream_processor(
        Name="page-a",
        SettingsForUpdate={"ConnectedHomeForUpdate": {"Labels": ["PET", "PACKAGE"]}},
        RegionsOfInterestForUpdate=[
            {"Polygon": [{"X": 0, "Y": 0}, {"X": 1, "Y": 0}, {"X": 0.5, "Y": 1}]}
        ],
        DataSharingPreferenceForUpdate={"OptIn": False},
        ParametersToDelete=["ConnectedHomeMinConfidence"],
    )
    described = sclient.describe_stream_processor(Name="page-a")
    assert described["Settings"] == {"ConnectedHome": {"Labels": ["PET", "PACKAGE"]}}
    assert len(described["RegionsOfInterest"][0]["Polygon"]) == 3
    assert described["DataSharingPreference"] == {"OptIn": False}
    assert described["LastUpdateTimestamp"] >= described["CreationTimestamp"]
    sclient.update_stream_processor(Name="page-a", ParametersToDelete=["RegionsOfInterest"])
    assert "RegionsOfInterest" not in sclient.describe_stream_processor(Name="page-a")

    sclient.delete_stream_processor(Name="page-a")
    with pytest.raises(ClientError) as e:
        sclient.describe_stream_processor(Name="page-a")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        sclient.delete_stream_processor(Name="page-a")
    assert code(e) == "ResourceNotFoundException"


def test_credentials_never_shown_and_processors_run_again_after_a_kill(
    tmp_path: Path, moto_s3: str
) -> None:
    """A camera that cannot be reached: the processor keeps reconnecting (STARTING, with a
    StatusMessage that says so), its password appears nowhere, and after the server is
    killed the next server on its data directory runs it again."""
    srv = stream_server(tmp_path, moto_s3)
    try:
        client = srv.client()
        client.create_stream_processor(**home_request("porch", arn=DEAD_CAMERA))
        described = client.describe_stream_processor(Name="porch")
        assert described["Input"]["KinesisVideoStream"]["Arn"] == ("rtsp://***@127.0.0.1:9/stream1")
        client.start_stream_processor(Name="porch", StopSelector={"MaxDurationInSeconds": 120})
        deadline = time.monotonic() + 60
        while "Reconnecting" not in described.get("StatusMessage", ""):
            assert time.monotonic() < deadline, described
            time.sleep(0.5)
            described = client.describe_stream_processor(Name="porch")
        assert described["Status"] == "STARTING" and SECRET not in json.dumps(
            described, default=str
        )
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(10)
        srv.log.close()
    except BaseException:
        srv.stop()
        raise
    again = stream_server(tmp_path, moto_s3)
    try:
        client = again.client()
        assert client.describe_stream_processor(Name="porch")["Status"] in ("STARTING", "RUNNING")
        resumed = [
            r
            for r in audit_records(again)
            if r["operation"] == "StreamProcessorSession" and r["phase"] == "resumed"
        ]
        assert [r["processor"] for r in resumed] == ["porch"]
        client.stop_stream_processor(Name="porch")
        stopped = wait_status(client, "porch", {"STOPPED"}, 30)
        assert "StatusMessage" not in stopped
        with pytest.raises(ClientError) as e:  # it is stopped: nothing to stop
            client.stop_stream_processor(Name="porch")
        assert code(e) == "ResourceInUseException"
    finally:
        again.stop()
    for path in [*tmp_path.glob("server-*.log"), *(tmp_path / "data").rglob("*.json*")]:
        assert SECRET not in path.read_text(errors="replace"), path


def test_watch_prints_events(tmp_path: Path) -> None:
    run = oculi_cli(
        "watch",
        str(CLIP),
        "--labels",
        "PERSON",
        "--fps",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any("first seen: PERSON" in line for line in lines), lines
    assert "session complete" in lines[-2] and "STOPPED: The stream ended" in lines[-1]
    bad = oculi_cli("watch", str(CLIP), "--labels", "CAR")
    assert bad.returncode == 2 and "--labels" in bad.stderr


def test_regions_of_interest_leave_out_what_is_elsewhere(sclient, moto_s3) -> None:
    """A region in the top-left corner, where nobody stands in the clip: no PERSON event,
    only the end-of-session summary."""
    corner = [{"Polygon": [{"X": 0, "Y": 0}, {"X": 0.08, "Y": 0}, {"X": 0, "Y": 0.08}]}]
    aws("s3", moto_s3).create_bucket(Bucket="events-roi")
    request = home_request("corner", RegionsOfInterest=corner)
    request["Output"] = {"S3Destination": {"Bucket": "events-roi"}}
    sclient.create_stream_processor(**request)
    session = sclient.start_stream_processor(
        Name="corner", StopSelector={"MaxDurationInSeconds": 60}
    )["SessionId"]
    assert wait_status(sclient, "corner", {"STOPPED", "FAILED"})["Status"] == "STOPPED"
    objects = aws("s3", moto_s3).list_objects_v2(Bucket="events-roi")["Contents"]
    assert [o["Key"] for o in objects] == [f"corner/{session}/summary.json"]


def test_processor_limit_and_search_rights(tmp_path: Path, moto_s3: str) -> None:
    """Creating or starting a FaceSearch processor needs search rights on its collection;
    past OCULI_STREAM_PROCESSOR_LIMIT processors, Create is refused."""
    keys = [
        {"access_key_id": "owner", "secret_access_key": "owner-secret"},
        {
            "access_key_id": "viewer",
            "secret_access_key": "viewer-secret",
            "collections": {"read": ["*"], "write": ["*"]},
        },
    ]
    output = kinesis_stream(moto_s3, "rights-out")
    srv = Server(
        tmp_path, keys=keys, env={**stream_env(moto_s3), "OCULI_STREAM_PROCESSOR_LIMIT": "2"}
    )
    try:
        owner, viewer = srv.client("owner", "owner-secret"), srv.client("viewer", "viewer-secret")
        owner.create_collection(CollectionId="staff")
        with pytest.raises(ClientError) as e:
            viewer.create_stream_processor(**face_search_request("lobby", output, "staff"))
        assert code(e) == "AccessDeniedException"
        owner.create_stream_processor(**face_search_request("lobby", output, "staff"))
        with pytest.raises(ClientError) as e:
            viewer.start_stream_processor(Name="lobby")
        assert code(e) == "AccessDeniedException"
        assert viewer.describe_stream_processor(Name="lobby")["Status"] == "STOPPED"
        viewer.create_stream_processor(**home_request("garden"))  # no collection: allowed
        with pytest.raises(ClientError) as e:
            owner.create_stream_processor(**home_request("garage"))
        assert code(e) == "LimitExceededException"
        denied = [r for r in audit_records(srv) if r["outcome"] == "AccessDeniedException"]
        assert {r["operation"] for r in denied} == {
            "CreateStreamProcessor",
            "StartStreamProcessor",
        }
    finally:
        srv.stop()


def test_face_search_on_an_rtsp_camera_that_drops(
    sclient, sserver: Server, moto_s3, cast: str
) -> None:
    """A real RTSP camera (GStreamer's server on loopback, with credentials) playing the
    clip: the performer is found; the camera dies mid-way and the processor says it is
    reconnecting, then runs again when the camera is back; its password is nowhere."""
    from tests.stream_servers import RtspServer, have_rtsp_server, require

    require(have_rtsp_server(), "GStreamer's RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0)")
    camera = RtspServer({"stage": (CLIP, "h264")}, "viewer", SECRET)
    camera.start()
    try:
        output = kinesis_stream(moto_s3, "rtsp-out")
        request = face_search_request("rtsp-stage", output)
        request["Input"] = {"KinesisVideoStream": {"Arn": camera.url("stage")}}
        sclient.create_stream_processor(**request)
        shown = f"rtsp://***@127.0.0.1:{camera.port}/stage"
        described = sclient.describe_stream_processor(Name="rtsp-stage")
        assert described["Input"]["KinesisVideoStream"]["Arn"] == shown
        sclient.start_stream_processor(Name="rtsp-stage")
        wait_status(sclient, "rtsp-stage", {"RUNNING"}, 60)
        time.sleep(4)
        camera.kill()
        deadline = time.monotonic() + 60
        while "Reconnecting" not in described.get("StatusMessage", ""):
            assert time.monotonic() < deadline, described
            time.sleep(0.3)
            described = sclient.describe_stream_processor(Name="rtsp-stage")
        assert described["Status"] == "STARTING" and shown in described["StatusMessage"]
        camera.start()
        wait_status(sclient, "rtsp-stage", {"RUNNING"}, 90)
        time.sleep(6)  # into the clip's stage shots again
        sclient.stop_stream_processor(Name="rtsp-stage")
        assert wait_status(sclient, "rtsp-stage", {"STOPPED"}, 30).get("StatusMessage") is None
    finally:
        camera.kill()
    records = kinesis_records(moto_s3, "rtsp-out")
    assert all(r["InputInformation"]["KinesisVideo"]["StreamArn"] == shown for r in records)
    found = {
        m["Face"]["ExternalImageId"]
        for r in records
        for f in r["FaceSearchResponse"]
        for m in f["MatchedFaces"]
    }
    assert "lin-manuel-miranda" in found
    logs = [*sserver.data_dir.parent.glob("server-*.log"), *sserver.data_dir.rglob("*.json*")]
    for path in logs:
        assert SECRET not in path.read_text(errors="replace"), path


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: keeps each POST's headers and body."""

    received: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_events_reach_an_mqtt_broker_and_a_signed_webhook(tmp_path: Path, moto_s3: str) -> None:
    """With `--stream-mqtt`, every event is also published to the broker (Debian's
    mosquitto on loopback, with credentials) under <prefix>/<processor>/<type>; with
    OCULI_STREAM_WEBHOOK_URL, POSTed to the webhook, signed with its secret."""
    import paho.mqtt.client as paho

    from tests.stream_servers import Mosquitto, have_mosquitto, require

    require(have_mosquitto(), "mosquitto")
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", {"oculi": SECRET})
    broker.start()
    received: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-home")
    sub.username_pw_set("oculi", SECRET)
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("home/#", qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, m: received.append((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    srv = Server(
        tmp_path / "oculi",
        env={
            **stream_env(moto_s3),
            "OCULI_STREAM_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_port}/events",
            "OCULI_STREAM_WEBHOOK_SECRET": "hook-key",
        },
        args=["--stream-mqtt", f"mqtt://oculi:{SECRET}@127.0.0.1:{broker.port}/home"],
    )
    try:
        assert subscribed.wait(30)
        client = srv.client()
        client.create_stream_processor(**home_request("hall"))
        client.start_stream_processor(Name="hall", StopSelector={"MaxDurationInSeconds": 60})
        assert wait_status(client, "hall", {"STOPPED", "FAILED"})["Status"] == "STOPPED"
        deadline = time.monotonic() + 30  # a guard against hanging, not a timing check
        while not any(e["event"].get("Status") == "STOPPED" for _, e in received):
            assert time.monotonic() < deadline, received
            time.sleep(0.1)
    finally:
        srv.stop()
        hook.shutdown()
        sub.disconnect()
        sub.loop_stop()
        broker.stop()
    topics = [t for t, _ in received]
    assert "home/hall/LABEL_DETECTED" in topics and "home/hall/STATUS" in topics
    (person,) = [m for t, m in received if t == "home/hall/LABEL_DETECTED"]
    assert person["processor"] == "hall" and person["event"]["labels"][0]["name"] == "PERSON"
    assert SECRET not in (tmp_path / "oculi" / f"server-{srv.port}.log").read_text()
    posted = [(headers, json.loads(body)) for headers, body in Hook.received]
    assert [e["type"] for _, e in posted] == [e["type"] for t, e in received]
    for (headers, entry), (_, body) in zip(posted, Hook.received, strict=True):
        expected = "sha256=" + hmac.new(b"hook-key", body, hashlib.sha256).hexdigest()
        assert headers["X-Oculi-Signature"] == expected
        assert int(headers["X-Oculi-Timestamp"]) == entry["time"] // 1000
        assert entry["processor"] == "hall"
