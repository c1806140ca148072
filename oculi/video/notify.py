"""Rekognition's completion message for a stored-video job, published to the job's
NotificationChannel.SNSTopicArn through boto3's SNS client, configured the standard AWS way
(AWS_ENDPOINT_URL_SNS, profiles, the credentials chain) or by OCULI_SNS_ENDPOINT_URL.
RoleArn is accepted and not used: oculi publishes with its own credentials."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from oculi.settings import Settings

log = logging.getLogger("oculi.video")


def completion_message(
    api: str, job_id: str, status: str, params: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """The message body AWS sends: JobId, Status, API, JobTag, Timestamp, Video."""
    s3 = params["Video"]["S3Object"]
    message: dict[str, Any] = {
        "JobId": job_id,
        "Status": status,
        "API": f"Start{api}",
        "Timestamp": now_ms,
        "Video": {"S3ObjectName": s3["Name"], "S3Bucket": s3["Bucket"]},
    }
    if "JobTag" in params:
        message["JobTag"] = params["JobTag"]
    return message


def notify(settings: Settings, api: str, job_id: str, status: str, params: dict[str, Any]) -> None:
    """Publish the completion message, if the job named a channel; a failure to publish
    is logged (the job's status stays readable through Get*)."""
    channel = params.get("NotificationChannel")
    if not channel:
        return
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    arn = channel["SNSTopicArn"]
    parts = arn.split(":")
    region = parts[3] if len(parts) > 5 and parts[3] else None
    message = completion_message(api, job_id, status, params, int(time.time() * 1000))
    try:
        session = boto3.session.Session()
        client = session.client(
            "sns",
            endpoint_url=settings.sns_endpoint_url,
            region_name=region or session.region_name or "us-east-1",
            config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=10),
        )
        client.publish(TopicArn=arn, Message=json.dumps(message))
    except (BotoCoreError, ClientError) as e:
        log.warning("video job %s: could not publish to %s: %s", job_id, arn, e)
