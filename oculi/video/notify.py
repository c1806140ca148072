"""Rekognition's completion message for a stored-video job, published to the job's
NotificationChannel.SNSTopicArn through boto3's SNS client, configured the standard AWS way
(AWS_ENDPOINT_URL_SNS, profiles, the credentials chain) or by OCULI_SNS_ENDPOINT_URL.
RoleArn is accepted and not used: oculi publishes with its own credentials.

As an oculi extension, every job's message is also POSTed to the operator's webhook
(OCULI_VIDEO_WEBHOOK_URL), signed: `X-Oculi-Signature: sha256=<hex HMAC-SHA256 of the
body under OCULI_VIDEO_WEBHOOK_SECRET>` and `X-Oculi-Timestamp` (seconds; also inside the
body), so that a receiver can check who sent it and refuse a replay."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
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


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notify(settings: Settings, api: str, job_id: str, status: str, params: dict[str, Any]) -> None:
    """Publish the completion message to the job's SNS topic, if it named one, and to the
    operator's webhook, if one is set; a failure to deliver is logged (the job's status
    stays readable through Get*)."""
    message = completion_message(api, job_id, status, params, int(time.time() * 1000))
    if settings.video_webhook_url:
        post_webhook(settings, message)
    channel = params.get("NotificationChannel")
    if channel:
        publish_sns(settings, channel["SNSTopicArn"], message)


def post_webhook(settings: Settings, message: dict[str, Any]) -> None:
    post_signed(
        str(settings.video_webhook_url),
        settings.video_webhook_secret,
        message,
        message["Timestamp"] // 1000,
        f"video job {message['JobId']}",
    )


def post_signed(
    url: str, secret: str | None, message: dict[str, Any], timestamp_s: int, what: str
) -> bool:
    """POST `message` as JSON to the operator's `url`, signed under `secret` (if any) with
    `timestamp_s` in X-Oculi-Timestamp; False, logged as `what`'s, when it failed."""
    body = json.dumps(message).encode()
    headers = {"Content-Type": "application/json", "X-Oculi-Timestamp": str(timestamp_s)}
    if secret:
        headers["X-Oculi-Signature"] = signature(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - operator's URL
            answer.read(1024)
    except (urllib.error.URLError, OSError, ValueError) as e:
        log.warning("%s: could not POST to the webhook: %s", what, e)
        return False
    return True


def publish_sns(
    settings: Settings,
    arn: str,
    message: dict[str, Any],
    subject: str | None = None,
    what: str | None = None,
) -> bool:
    """Publish `message` as JSON (with `subject`, if given); False, logged, when it could
    not be delivered (`what` names the sender in the log: a job by default)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parts = arn.split(":")
    region = parts[3] if len(parts) > 5 and parts[3] else None
    try:
        session = boto3.session.Session()
        client = session.client(
            "sns",
            endpoint_url=settings.sns_endpoint_url,
            region_name=region or session.region_name or "us-east-1",
            config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=10),
        )
        extra = {"Subject": subject} if subject else {}
        client.publish(TopicArn=arn, Message=json.dumps(message), **extra)
    except (BotoCoreError, ClientError) as e:
        who = what or f"video job {message.get('JobId')}"
        log.warning("%s: could not publish to %s: %s", who, arn, e)
        return False
    return True
