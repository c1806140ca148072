"""Stored-video jobs through boto3: Start*/Get* for faces, persons, labels and face search
on a real clip read from a real S3 server (moto), completion messages through real SNS and
SQS (moto), idempotency, the job quota, restarts and result expiry."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import FIXTURES, REGION, Server, clean_env
from tests.shapes import WireAnswers

CLIP = "video/short_hamilton_clip.mp4"
VIDEO = {"S3Object": {"Bucket": "photos", "Name": "clip.mp4"}}
NOT_VIDEO = {"S3Object": {"Bucket": "photos", "Name": "not-a-video.mp4"}}
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def aws(service: str, url: str):  # a boto3 client of moto's server
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def videos(moto_s3: str) -> str:
    s3 = aws("s3", moto_s3)
    s3.put_object(Bucket="photos", Key="clip.mp4", Body=(FIXTURES / CLIP).read_bytes())
    s3.put_object(Bucket="photos", Key="not-a-video.mp4", Body=b"\x00\x00\x00\x18ftypmp42" * 64)
    return moto_s3


def video_server(tmp: Path, moto: str, **env: str) -> Server:
    return Server(
        tmp,
        env={
            "AWS_ENDPOINT_URL_S3": moto,
            "AWS_ENDPOINT_URL_SNS": moto,
            "OCULI_MATCH_FLOOR": "80",
            "OCULI_VIDEO_FPS": "2",
            **CREDENTIALS,
            **env,
        },
    )


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory, videos: str) -> Iterator[Server]:
    srv = video_server(tmp_path_factory.mktemp("video"), videos)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def vclient(vserver: Server):
    return vserver.client()


def wait_job(get: Callable[..., dict], job_id: str, timeout: float = 600, **kw) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(JobId=job_id, **kw)
        if answer["JobStatus"] != "IN_PROGRESS":
            return answer
        time.sleep(0.5)
    raise TimeoutError(job_id)


def all_pages(get: Callable[..., dict], field: str, **kw) -> list[dict]:
    items, token = [], None
    while True:
        answer = get(**kw, **({"NextToken": token} if token else {}))
        items += answer[field]
        token = answer.get("NextToken")
        if not token:
            return items


@pytest.fixture(scope="module")
def face_job(vclient) -> str:
    job_id = vclient.start_face_detection(
        Video=VIDEO, JobTag="tag-1", ClientRequestToken="token-1"
    )["JobId"]
    wait_job(vclient.get_face_detection, job_id)
    return job_id


def test_face_detection_job(vclient, face_job: str) -> None:
    wire = WireAnswers(vclient)
    answer = vclient.get_face_detection(JobId=face_job)
    assert answer["JobStatus"] == "SUCCEEDED"
    assert answer["JobId"] == face_job and len(face_job) == 64
    assert answer["JobTag"] == "tag-1"
    assert answer["Video"] == VIDEO
    meta = answer["VideoMetadata"]
    assert meta["Codec"] == "h264" and meta["Format"] == "QuickTime / MOV"
    assert (meta["FrameWidth"], meta["FrameHeight"]) == (640, 360)
    assert meta["FrameRate"] == pytest.approx(29.97, abs=0.01)
    assert meta["DurationMillis"] == pytest.approx(9176, abs=40)
    faces = answer["Faces"]
    stamps = [f["Timestamp"] for f in faces]
    assert stamps == sorted(stamps) and stamps[-1] <= meta["DurationMillis"]
    # 2 analysed frames a second of a 9 s clip where a face is nearly always in view
    assert len(set(stamps)) >= 12
    assert all(f["Face"]["Confidence"] > 50 and "Pose" in f["Face"] for f in faces)
    paged = all_pages(vclient.get_face_detection, "Faces", JobId=face_job, MaxResults=7)
    assert paged == faces
    assert wire.check() == ["GetFaceDetection"]


def test_client_request_token_is_idempotent(vclient, face_job: str) -> None:
    again = vclient.start_face_detection(Video=VIDEO, JobTag="tag-1", ClientRequestToken="token-1")
    assert again["JobId"] == face_job
    with pytest.raises(ClientError) as e:
        vclient.start_face_detection(Video=VIDEO, JobTag="tag-2", ClientRequestToken="token-1")
    assert e.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"


@pytest.mark.parametrize(
    ("s3", "code"),
    [
        ({"Bucket": "photos", "Name": "missing.mp4"}, "InvalidS3ObjectException"),
        ({"Bucket": "no-such-bucket", "Name": "clip.mp4"}, "InvalidS3ObjectException"),
        ({"Bucket": "photos", "Name": "a/../clip.mp4"}, "InvalidS3ObjectException"),
    ],
)
def test_video_that_cannot_be_read_is_refused(vclient, s3: dict, code: str) -> None:
    with pytest.raises(ClientError) as e:
        vclient.start_face_detection(Video={"S3Object": s3})
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unreadable_video_fails_the_job(vclient) -> None:
    job_id = vclient.start_face_detection(Video=NOT_VIDEO)["JobId"]
    answer = wait_job(vclient.get_face_detection, job_id, 120)
    assert answer["JobStatus"] == "FAILED"
    assert "Unsupported codec/format" in answer["StatusMessage"]
    assert answer["Faces"] == []


def test_unknown_job_and_bad_token(vclient, face_job: str) -> None:
    with pytest.raises(ClientError) as e:
        vclient.get_face_detection(JobId="0" * 64)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:  # a face detection job is no person tracking job
        vclient.get_person_tracking(JobId=face_job)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    for token in ("not-a-token", "eyJqIjogMX0="):
        with pytest.raises(ClientError) as e:
            vclient.get_face_detection(JobId=face_job, NextToken=token)
        assert e.value.response["Error"]["Code"] == "InvalidPaginationTokenException"


def test_person_tracking(vclient) -> None:
    wire = WireAnswers(vclient)
    job_id = vclient.start_person_tracking(Video=VIDEO)["JobId"]
    answer = wait_job(vclient.get_person_tracking, job_id)
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    persons = answer["Persons"]
    assert [p["Timestamp"] for p in persons] == sorted(p["Timestamp"] for p in persons)
    indexes = [p["Person"]["Index"] for p in persons]
    assert indexes[0] == 0
    # from 3 s to 7 s one shot follows one man walking across the stage: one index
    walking = {p["Person"]["Index"] for p in persons if 3000 <= p["Timestamp"] <= 7100}
    assert len(walking) == 1
    assert sum(3000 <= p["Timestamp"] <= 7100 for p in persons) >= 8
    assert sorted(set(indexes)) == list(range(len(set(indexes))))
    assert any("Face" in p["Person"] for p in persons)
    by_index = all_pages(
        vclient.get_person_tracking, "Persons", JobId=job_id, SortBy="INDEX", MaxResults=5
    )
    keys = [(p["Person"]["Index"], p["Timestamp"]) for p in by_index]
    assert keys == sorted(keys) and len(by_index) == len(persons)
    assert wire.check() == ["GetPersonTracking", "StartPersonTracking"]


def test_label_detection(vclient) -> None:
    wire = WireAnswers(vclient)
    job_id = vclient.start_label_detection(Video=VIDEO, MinConfidence=60)["JobId"]
    answer = wait_job(vclient.get_label_detection, job_id)
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    assert answer["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "TIMESTAMPS"}
    labels = answer["Labels"]
    assert all(lab["Label"]["Confidence"] >= 60 for lab in labels)
    people = [lab for lab in labels if lab["Label"]["Name"] == "Person"]
    assert people and all(lab["Label"]["Instances"] for lab in people)
    by_name = vclient.get_label_detection(JobId=job_id, SortBy="NAME")["Labels"]
    names = [lab["Label"]["Name"] for lab in by_name]
    assert names == sorted(names) and len(by_name) == len(labels)
    segments = vclient.get_label_detection(JobId=job_id, AggregateBy="SEGMENTS")
    assert segments["GetRequestMetadata"]["AggregateBy"] == "SEGMENTS"
    person_segments = [s for s in segments["Labels"] if s["Label"]["Name"] == "Person"]
    assert 1 <= len(person_segments) < len(people)
    for s in segments["Labels"]:
        assert s["StartTimestampMillis"] <= s["EndTimestampMillis"]
        assert s["DurationMillis"] == s["EndTimestampMillis"] - s["StartTimestampMillis"]
    assert wire.check() == ["GetLabelDetection", "StartLabelDetection"]


def test_face_search_names_the_enrolled_performer(vclient, vserver: Server) -> None:
    wire = WireAnswers(vclient)
    vclient.create_collection(CollectionId="cast")
    for name in ("lin-manuel-miranda", "alex-lacamoire"):
        vclient.index_faces(
            CollectionId="cast",
            Image={"Bytes": (FIXTURES / f"video/{name}.jpg").read_bytes()},
            ExternalImageId=name,
            MaxFaces=1,
        )
    with pytest.raises(ClientError) as e:
        vclient.start_face_search(Video=VIDEO, CollectionId="nobody")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    job_id = vclient.start_face_search(Video=VIDEO, CollectionId="cast")["JobId"]
    answer = wait_job(vclient.get_face_search, job_id)
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    persons = answer["Persons"]
    assert persons, "the performer is in view for most of the clip"
    assert all(m["Similarity"] >= 80 for p in persons for m in p["FaceMatches"])
    named: dict[str, set[int]] = {}
    for p in persons:
        (match,) = p["FaceMatches"]
        named.setdefault(match["Face"]["ExternalImageId"], set()).add(p["Timestamp"])
    # Shots (by eye): 0-0.8 s Miranda sings, Lacamoire at the piano on the left; 0.8-2.8 s
    # Lacamoire in profile close up, the audience behind; 2.8-7.2 s Miranda walks the
    # stage; from 7.2 s the audience. Each is named where he is seen, nobody else is named.
    assert set(named) == {"lin-manuel-miranda", "alex-lacamoire"}
    miranda = named["lin-manuel-miranda"]
    assert min(miranda) == 0 and len([t for t in miranda if 2800 <= t <= 7200]) >= 8
    assert all(t < 800 or 2800 <= t <= 7200 for t in miranda)
    assert named["alex-lacamoire"] and all(t < 800 for t in named["alex-lacamoire"])
    by_index = vclient.get_face_search(JobId=job_id, SortBy="INDEX")["Persons"]
    keys = [(p["Person"]["Index"], p["Timestamp"]) for p in by_index]
    assert keys == sorted(keys)
    assert wire.check() == ["CreateCollection", "GetFaceSearch", "IndexFaces", "StartFaceSearch"]
    records = [
        json.loads(line)
        for line in (vserver.data_dir / "audit" / "audit.jsonl").read_text().splitlines()
    ]
    ops = {r["operation"]: r for r in records}
    assert ops["StartFaceSearch"]["collection"] == "cast"
    assert ops["StartFaceSearch"]["s3"][0]["key"] == "clip.mp4"
    assert ops["FaceSearchJob"]["request_id"] == job_id
    assert ops["FaceSearchJob"]["matches"] == 2
    assert ops["GetFaceSearch"]["matches"] == len(persons)


def test_completion_message_reaches_sns_and_sqs(vclient, videos: str) -> None:
    """As AWS's own stored-video example: an SQS queue subscribed to an SNS topic."""
    sns, sqs = aws("sns", videos), aws("sqs", videos)
    topic = sns.create_topic(Name="AmazonRekognition-video")["TopicArn"]
    queue = sqs.create_queue(QueueName="video-done")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    job_id = vclient.start_face_detection(
        Video=NOT_VIDEO,
        JobTag="notify-me",
        NotificationChannel={
            "SNSTopicArn": topic,
            "RoleArn": "arn:aws:iam::000000000000:role/rekognition",
        },
    )["JobId"]
    wait_job(vclient.get_face_detection, job_id, 120)
    deadline, messages = time.monotonic() + 30, []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert messages
    body = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert body["JobId"] == job_id and body["Status"] == "FAILED"
    assert body["API"] == "StartFaceDetection" and body["JobTag"] == "notify-me"
    assert body["Video"] == {"S3ObjectName": "not-a-video.mp4", "S3Bucket": "photos"}
    assert abs(body["Timestamp"] / 1000 - time.time()) < 120


def test_job_quota(tmp_path: Path, videos: str) -> None:
    """At the quota a Start is refused (restarts: tests/test_video_workers.py)."""
    srv = video_server(tmp_path, videos, OCULI_VIDEO_JOB_LIMIT="1", OCULI_VIDEO_FPS="30")
    try:
        client = srv.client()
        job_id = client.start_person_tracking(Video=VIDEO)["JobId"]
        with pytest.raises(ClientError) as e:
            client.start_face_detection(Video=VIDEO)
        assert e.value.response["Error"]["Code"] == "LimitExceededException"
        assert client.get_person_tracking(JobId=job_id)["JobStatus"] == "IN_PROGRESS"
    finally:
        srv.stop()


def test_results_expire(tmp_path: Path, videos: str) -> None:
    srv = video_server(tmp_path, videos, OCULI_VIDEO_RESULTS_TTL_S="1")
    try:
        client = srv.client()
        job_id = client.start_face_detection(Video=NOT_VIDEO)["JobId"]
        wait_job(client.get_face_detection, job_id, 120)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.get_face_detection(JobId=job_id)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ResourceNotFoundException"
                return
            time.sleep(0.5)
        pytest.fail("the job's results were not deleted after their expiry")
    finally:
        srv.stop()


def test_face_search_needs_search_rights(tmp_path: Path, videos: str) -> None:
    keys = [
        {"access_key_id": "searcher", "secret_access_key": "searcher-secret", "s3_buckets": ["*"]},
        {
            "access_key_id": "reader",
            "secret_access_key": "reader-secret",
            "collections": {"read": ["*"], "write": ["*"]},
            "s3_buckets": ["photos"],
        },
        {
            "access_key_id": "nobucket",
            "secret_access_key": "nobucket-secret",
            "s3_buckets": ["other"],
        },
    ]
    srv = Server(tmp_path, keys=keys, env={"AWS_ENDPOINT_URL_S3": videos, **CREDENTIALS})
    try:
        searcher = srv.client("searcher", "searcher-secret")
        searcher.create_collection(CollectionId="cast")
        job_id = searcher.start_face_search(Video=NOT_VIDEO, CollectionId="cast")["JobId"]
        assert wait_job(searcher.get_face_search, job_id, 120)["JobStatus"] == "FAILED"
        reader = srv.client("reader", "reader-secret")
        with pytest.raises(ClientError) as e:
            reader.start_face_search(Video=VIDEO, CollectionId="cast")
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        with pytest.raises(ClientError) as e:  # who a search found is the searchers' to read
            reader.get_face_search(JobId=job_id)
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        with pytest.raises(ClientError) as e:
            srv.client("nobucket", "nobucket-secret").start_face_detection(Video=VIDEO)
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        srv.stop()


def test_face_search_threshold_is_floored(vclient) -> None:
    notices: list[str] = []

    def keep(http_response, **_) -> None:
        notices.append(http_response.headers.get("x-oculi-notice", ""))

    vclient.create_collection(CollectionId="floored")
    vclient.meta.events.register("after-call.rekognition.StartFaceSearch", keep)
    try:
        vclient.start_face_search(Video=NOT_VIDEO, CollectionId="floored", FaceMatchThreshold=50)
    finally:
        vclient.meta.events.unregister("after-call.rekognition.StartFaceSearch", keep)
    assert "FaceMatchThreshold 50 raised to the operator's identity floor 80" in notices[0]


def sign_video(path: Path, black: int = 0) -> None:
    """3 s of MJPEG in AVI at 10 frames/s: `black` black frames, then a grey card, with a
    sign reading OPEN 24 HOURS from 1 s on."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 360))
    for i in range(30):
        frame = np.full((360, 640, 3), 0 if i < black else 200, np.uint8)
        if i >= 10:
            cv2.putText(
                frame, "OPEN 24 HOURS", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 5
            )
        writer.write(frame)
    writer.release()


def test_text_detection_in_mjpeg_avi(vclient, videos: str, tmp_path: Path) -> None:
    wire = WireAnswers(vclient)
    sign_video(tmp_path / "sign.avi")
    aws("s3", videos).put_object(
        Bucket="photos", Key="sign.avi", Body=(tmp_path / "sign.avi").read_bytes()
    )
    video = {"S3Object": {"Bucket": "photos", "Name": "sign.avi"}}
    job_id = vclient.start_text_detection(Video=video)["JobId"]
    answer = wait_job(vclient.get_text_detection, job_id)
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    assert answer["VideoMetadata"]["Codec"] == "mjpg"
    assert answer["VideoMetadata"]["Format"] == "AVI (Audio Video Interleaved)"
    assert answer["TextModelVersion"]
    found = answer["TextDetections"]
    lines = [
        (t["Timestamp"], t["TextDetection"]) for t in found if t["TextDetection"]["Type"] == "LINE"
    ]
    assert {ts for ts, _ in lines} == {1000, 1500, 2000, 2500}  # 2 analysed frames a second
    assert all(d["DetectedText"] == "OPEN 24 HOURS" for _, d in lines)
    words = [t["TextDetection"] for t in found if t["TextDetection"]["Type"] == "WORD"]
    assert {w["DetectedText"] for w in words} == {"OPEN", "24", "HOURS"}
    assert wire.check() == ["GetTextDetection", "StartTextDetection"]


def test_content_moderation(vclient) -> None:
    wire = WireAnswers(vclient)
    job_id = vclient.start_content_moderation(Video=VIDEO, MinConfidence=50)["JobId"]
    answer = wait_job(vclient.get_content_moderation, job_id)
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    assert answer["ModerationModelVersion"]
    assert answer["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "TIMESTAMPS"}
    assert all(m["ModerationLabel"]["Confidence"] >= 50 for m in answer["ModerationLabels"])
    segments = vclient.get_content_moderation(JobId=job_id, AggregateBy="SEGMENTS", SortBy="NAME")
    names = [s["ModerationLabel"]["Name"] for s in segments["ModerationLabels"]]
    assert names == sorted(names)
    assert len(names) <= len(answer["ModerationLabels"])
    assert wire.check() == ["GetContentModeration", "StartContentModeration"]


def test_segment_detection(vclient, videos: str, tmp_path: Path) -> None:
    wire = WireAnswers(vclient)
    job_id = vclient.start_segment_detection(Video=VIDEO, SegmentTypes=["SHOT"])["JobId"]
    answer = wait_job(vclient.get_segment_detection, job_id)
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    assert answer["VideoMetadata"][0]["Codec"] == "h264" and answer["AudioMetadata"] == []
    assert [t["Type"] for t in answer["SelectedSegmentTypes"]] == ["SHOT"]
    shots = answer["Segments"]
    # four shots (by eye), every frame in one of them
    assert [s["ShotSegment"]["Index"] for s in shots] == [0, 1, 2, 3]
    assert shots[0]["StartFrameNumber"] == 0 and shots[-1]["EndFrameNumber"] == 274
    for a, b in zip(shots, shots[1:]):
        assert b["StartFrameNumber"] == a["EndFrameNumber"] + 1
    # each cut is one frame whose colours correlate below 0.9 with the frame before
    assert [s["StartFrameNumber"] for s in shots[1:]] == [20, 82, 211]
    assert [s["StartTimestampMillis"] for s in shots[1:]] == [667, 2736, 7040]
    assert shots[0]["StartTimecodeSMPTE"] == "00:00:00;00"  # 29.97 frames/s: drop-frame
    assert all(50 <= s["ShotSegment"]["Confidence"] <= 100 for s in shots)
    # one second of black before the sign: a BlackFrames cue over frames 0-9
    sign_video(tmp_path / "sign.avi", black=10)
    aws("s3", videos).put_object(
        Bucket="photos", Key="black.avi", Body=(tmp_path / "sign.avi").read_bytes()
    )
    job_id = vclient.start_segment_detection(
        Video={"S3Object": {"Bucket": "photos", "Name": "black.avi"}},
        SegmentTypes=["TECHNICAL_CUE", "SHOT"],
    )["JobId"]
    answer = wait_job(vclient.get_segment_detection, job_id)
    cues = [s for s in answer["Segments"] if s["Type"] == "TECHNICAL_CUE"]
    (cue,) = cues
    assert cue["TechnicalCueSegment"]["Type"] == "BlackFrames"
    assert (cue["StartFrameNumber"], cue["EndFrameNumber"], cue["DurationFrames"]) == (0, 9, 10)
    assert (cue["StartTimestampMillis"], cue["EndTimestampMillis"]) == (0, 1000)
    assert cue["StartTimecodeSMPTE"] == "00:00:00:00" and cue["DurationSMPTE"] == "00:00:01:00"
    assert wire.check() == ["GetSegmentDetection", "StartSegmentDetection"]


def test_celebrity_recognition(tmp_path: Path, videos: str) -> None:
    """The performer, enrolled in the operator's celebrity collection, is recognized in
    the shots he is in, at the default identity floor (99); nobody else is."""
    data = tmp_path / "data"
    enrol = subprocess.run(
        [sys.executable, "-m", "oculi", "celebrities", "add",
         str(FIXTURES / "video/lin-manuel-miranda.jpg"), "--collection", "stars",
         "--data-dir", str(data), "--id", "LinManuelMiranda", "--name", "Lin-Manuel Miranda",
         "--url", "https://en.wikipedia.org/wiki/Lin-Manuel_Miranda"],
        env=clean_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert enrol.returncode == 0, enrol.stderr
    srv = Server(
        tmp_path,
        env={"AWS_ENDPOINT_URL_S3": videos, "OCULI_VIDEO_FPS": "2", **CREDENTIALS},
        args=["--celebrity-collection", "stars"],
    )
    try:
        client = srv.client()
        wire = WireAnswers(client)
        job_id = client.start_celebrity_recognition(Video=VIDEO)["JobId"]
        answer = wait_job(client.get_celebrity_recognition, job_id)
        assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
        found = answer["Celebrities"]
        assert found and {c["Celebrity"]["Id"] for c in found} == {"LinManuelMiranda"}
        celebrity = found[0]["Celebrity"]
        assert celebrity["Name"] == "Lin-Manuel Miranda" and celebrity["Confidence"] >= 99
        assert celebrity["Urls"] == ["https://en.wikipedia.org/wiki/Lin-Manuel_Miranda"]
        assert celebrity["BoundingBox"] == celebrity["Face"]["BoundingBox"]
        stamps = [c["Timestamp"] for c in found]
        assert stamps == sorted(stamps)
        assert all(t < 800 or 2700 <= t <= 7100 for t in stamps)
        by_id = client.get_celebrity_recognition(JobId=job_id, SortBy="ID")["Celebrities"]
        assert len(by_id) == len(found)
        assert wire.check() == ["GetCelebrityRecognition", "StartCelebrityRecognition"]
        records = [
            json.loads(line) for line in (data / "audit" / "audit.jsonl").read_text().splitlines()
        ]
        (job,) = [r for r in records if r["operation"] == "CelebrityRecognitionJob"]
        assert job["celebrity_ids"] == ["LinManuelMiranda"] and job["request_id"] == job_id
    finally:
        srv.stop()


def test_webhook_gets_the_signed_completion_message(tmp_path: Path, videos: str) -> None:
    import hashlib
    import hmac
    import http.server
    import threading

    received: list[tuple[dict, bytes]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    srv = video_server(
        tmp_path,
        videos,
        OCULI_VIDEO_WEBHOOK_URL=f"http://127.0.0.1:{hook.server_port}/done",
        OCULI_VIDEO_WEBHOOK_SECRET="s3cret",
    )
    try:
        client = srv.client()
        job_id = client.start_label_detection(Video=NOT_VIDEO, JobTag="hooked")["JobId"]
        wait_job(client.get_label_detection, job_id, 120)
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        srv.stop()
        hook.shutdown()
    ((headers, body),) = received
    message = json.loads(body)
    assert message["JobId"] == job_id and message["Status"] == "FAILED"
    assert message["API"] == "StartLabelDetection" and message["JobTag"] == "hooked"
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Oculi-Signature"] == expected
    assert int(headers["X-Oculi-Timestamp"]) == message["Timestamp"] // 1000
