"""Where a stream processor's results go, in Rekognition's formats: FaceSearch records to
the Kinesis data stream of `Output.KinesisDataStream.Arn` (one per analysed frame, as
Rekognition's), ConnectedHome events to the SNS topic of `NotificationChannel` (a label's
first sighting in a session, and the end-of-session summary) and to the S3 destination
(`Output.S3Destination`: each event as JSON under KeyPrefix/Name/SessionId/, with its frame
and crop only under OCULI_STREAM_KEEP_FRAMES=1), and always to the local event log.

The AWS services are reached with boto3 configured the standard way (AWS_ENDPOINT_URL_KINESIS,
AWS_ENDPOINT_URL_SNS or OCULI_SNS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or
OCULI_S3_ENDPOINT_URL, profiles, the credentials chain). A delivery that fails is logged
(the first, then every 100th) and counted; the processor goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from oculi.service.image_source import S3Settings, s3_client
from oculi.settings import Settings
from oculi.streams.events import Events
from oculi.video.notify import publish_sns

log = logging.getLogger("oculi.streams")

SNS_SUBJECT = "Rekognition Stream Processing Event"


def _region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else None


def kinesis_client(arn: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    return session.client(
        "kinesis",
        region_name=_region(arn) or session.region_name or "us-east-1",
        config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=5),
    )


class Outputs:
    """The outputs of one session of processor `name`, as its request configures them."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        request: dict[str, Any],
        session_id: str | None,
        events: Events,
    ) -> None:
        self.settings, self.name, self.session_id, self.events = settings, name, session_id, events
        output = request.get("Output") or {}
        self.kinesis_arn: str | None = (output.get("KinesisDataStream") or {}).get("Arn")
        self.s3: dict[str, str] | None = output.get("S3Destination")
        self.kms_key: str | None = request.get("KmsKeyId")
        self.topic: str | None = (request.get("NotificationChannel") or {}).get("SNSTopicArn")
        self._kinesis: Any = None
        self._s3: Any = None
        self.failures = 0

    def _failed(self, where: str, error: Exception) -> None:
        self.failures += 1
        if self.failures % 100 == 1:
            log.warning(
                "stream processor %s: could not deliver to %s (%d failures): %s",
                self.name,
                where,
                self.failures,
                error,
            )

    def face_record(self, record: dict[str, Any]) -> None:
        """One analysed frame's record: to Kinesis always, to the event log with faces."""
        if record["FaceSearchResponse"]:
            self.events.append(self.name, self.session_id, "FaceSearch", record)
        if self.kinesis_arn is None:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._kinesis is None:
                self._kinesis = kinesis_client(self.kinesis_arn)
            self._kinesis.put_record(
                StreamName=self.kinesis_arn.rsplit("/", 1)[-1],
                Data=json.dumps(record).encode(),
                PartitionKey=self.session_id or self.name,
            )
        except (BotoCoreError, ClientError) as e:
            self._failed(self.kinesis_arn, e)

    def s3_uri(self, leaf: str) -> str | None:
        """Where `leaf` goes under the S3 destination (None without one)."""
        if not self.s3:
            return None
        return f"s3://{self.s3['Bucket']}/{self._key(leaf)}"

    def _key(self, leaf: str) -> str:
        assert self.s3 is not None
        prefix = self.s3.get("KeyPrefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return f"{prefix}{self.name}/{self.session_id}/{leaf}"

    def put_s3(self, leaf: str, body: bytes, content_type: str) -> None:
        if not self.s3:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        extra: dict[str, str] = {}
        if self.kms_key:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key}
        try:
            if self._s3 is None:
                self._s3 = s3_client(S3Settings(endpoint_url=self.settings.s3_endpoint_url))
            self._s3.put_object(
                Bucket=self.s3["Bucket"],
                Key=self._key(leaf),
                Body=body,
                ContentType=content_type,
                **extra,
            )
        except (BotoCoreError, ClientError) as e:
            self._failed(f"s3://{self.s3['Bucket']}", e)

    def label_event(self, message: dict[str, Any]) -> None:
        """A ConnectedHome SNS message (LABEL_DETECTED or STREAM_PROCESSING_COMPLETE): to the
        event log, the S3 destination and the SNS topic."""
        kind = message["eventNamespace"]["type"]
        self.events.append(self.name, self.session_id, kind, message)
        complete = kind == "STREAM_PROCESSING_COMPLETE"
        leaf = "summary.json" if complete else f"labels/{message['eventId']}.json"
        self.put_s3(leaf, json.dumps(message).encode(), "application/json")
        if self.topic and not publish_sns(
            self.settings, self.topic, message, SNS_SUBJECT, f"stream processor {self.name}"
        ):
            self.failures += 1

    def status(self, status: str, message: str | None) -> None:
        self.events.append(
            self.name, self.session_id, "STATUS", {"Status": status, "StatusMessage": message}
        )
