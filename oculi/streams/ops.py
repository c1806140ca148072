"""Rekognition's stream-processor operations: Create, Start, Stop, Describe, List, Update and
DeleteStreamProcessor, and the tag operations on a processor's ARN
(`arn:aws:rekognition:<region>:<account>:streamprocessor/<Name>`).

Create checks what botocore's model cannot say: exactly one of Settings.FaceSearch (with a
CollectionId that exists, and Output.KinesisDataStream) or Settings.ConnectedHome (with
Output.S3Destination), the regions of interest, the tags, and the input (an ARN the stream
map names, or a URL oculi reads: oculi.streams.inputs). Describe shows a URL input without
its credentials.
"""

from __future__ import annotations

from typing import Any

from oculi.api.collection_ops import page_token, read_page_token
from oculi.errors import InvalidParameter, ResourceNotFound
from oculi.service.context import ServiceContext
from oculi.service.tags import MAX_TAGS, check_key, check_tags
from oculi.settings import Settings
from oculi.streams.analysis import check_labels, check_regions
from oculi.streams.inputs import shown, source_url
from oculi.streams.store import Processor

MAX_RESULTS = 1000  # ListStreamProcessors' default page, and the most it answers
KIND = "streamprocessor"


def processor_arn(settings: Settings, name: str) -> str:
    return f"arn:aws:rekognition:{settings.region}:{settings.account_id}:{KIND}/{name}"


def processor_of(settings: Settings, arn: str) -> str | None:
    """The processor name `arn` names on this server, or None if it names no processor."""
    parts = arn.removeprefix("arn:").split(":", 4)
    if len(parts) != 5 or parts[:2] != ["aws", "rekognition"]:
        return None
    kind, _, name = parts[4].partition("/")
    if (parts[2], parts[3], kind) != (settings.region, settings.account_id, KIND):
        return None
    return name or None


def _check_settings(ctx: ServiceContext, p: dict[str, Any]) -> None:
    settings, output = p["Settings"], p["Output"]
    if ("FaceSearch" in settings) == ("ConnectedHome" in settings):
        raise InvalidParameter("Settings must have exactly one of FaceSearch or ConnectedHome")
    if "FaceSearch" in settings:
        collection = settings["FaceSearch"].get("CollectionId")
        if collection is None:
            raise InvalidParameter("Settings.FaceSearch.CollectionId is required")
        try:
            ctx.collections().describe(collection)
        except ResourceNotFound:
            raise InvalidParameter(f"The collection {collection} does not exist") from None
        if "KinesisDataStream" not in output or "S3Destination" in output:
            raise InvalidParameter(
                "A FaceSearch stream processor writes to Output.KinesisDataStream only"
            )
    else:
        check_labels(settings["ConnectedHome"]["Labels"])
        if "S3Destination" not in output or "KinesisDataStream" in output:
            raise InvalidParameter(
                "A ConnectedHome stream processor writes to Output.S3Destination only"
            )
    check_regions(p.get("RegionsOfInterest") or [])


def create_stream_processor(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    tags = p.get("Tags") or {}
    check_tags(tags)
    arn = (p["Input"].get("KinesisVideoStream") or {}).get("Arn")
    if arn is None:
        raise InvalidParameter("Input.KinesisVideoStream.Arn is required")
    _check_settings(ctx, p)
    source_url(arn, ctx.settings)
    request = {k: v for k, v in p.items() if k != "Tags"}
    ctx.stream_processors().store.create(
        p["Name"], request, tags, ctx.settings.stream_processor_limit
    )
    return {"StreamProcessorArn": processor_arn(ctx.settings, p["Name"])}


def describe(settings: Settings, p: Processor) -> dict[str, Any]:
    r = p.request
    arn = r["Input"]["KinesisVideoStream"]["Arn"]
    out: dict[str, Any] = {
        "Name": p.name,
        "StreamProcessorArn": processor_arn(settings, p.name),
        "Status": p.status,
    }
    if p.message:
        out["StatusMessage"] = p.message
    out.update(
        CreationTimestamp=p.created,
        LastUpdateTimestamp=p.updated,
        Input={"KinesisVideoStream": {"Arn": shown(arn)}},
        Output=r["Output"],
        RoleArn=r["RoleArn"],
        Settings=r["Settings"],
    )
    for key in ("NotificationChannel", "KmsKeyId", "RegionsOfInterest", "DataSharingPreference"):
        if key in r:
            out[key] = r[key]
    return out


def describe_stream_processor(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return describe(ctx.settings, ctx.stream_processors().store.get(p["Name"]))


def list_stream_processors(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    after = read_page_token(p.get("NextToken"), str) or ""
    limit = min(int(p.get("MaxResults", MAX_RESULTS)), MAX_RESULTS)
    found = ctx.stream_processors().store.list(after, limit + 1)
    out: dict[str, Any] = {
        "StreamProcessors": [{"Name": x.name, "Status": x.status} for x in found[:limit]]
    }
    if len(found) > limit:
        out["NextToken"] = page_token(found[limit - 1].name)
    return out


def start_stream_processor(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"SessionId": ctx.stream_processors().start(p["Name"], p)}


def stop_stream_processor(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.stream_processors().stop(p["Name"])
    return {}


def delete_stream_processor(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.stream_processors().store.delete(p["Name"])
    return {}


def update_stream_processor(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    """What Rekognition lets change: ConnectedHome's Labels and MinConfidence, the regions
    of interest and the data-sharing preference (ParametersToDelete removes MinConfidence
    or the regions); only while the processor is STOPPED or FAILED."""
    store = ctx.stream_processors().store
    request = store.get(p["Name"]).request
    settings = request["Settings"]
    deleted = set(p.get("ParametersToDelete") or [])
    home = (p.get("SettingsForUpdate") or {}).get("ConnectedHomeForUpdate")
    if home is not None or "ConnectedHomeMinConfidence" in deleted:
        if "ConnectedHome" not in settings:
            raise InvalidParameter("Only a ConnectedHome stream processor has these settings")
        home = home or {}
        if "MinConfidence" in home and "ConnectedHomeMinConfidence" in deleted:
            raise InvalidParameter("MinConfidence is both updated and deleted")
        if "Labels" in home:
            check_labels(home["Labels"])
        updated = {**settings["ConnectedHome"], **home}
        if "ConnectedHomeMinConfidence" in deleted:
            updated.pop("MinConfidence", None)
        request["Settings"] = {"ConnectedHome": updated}
    if "RegionsOfInterestForUpdate" in p:
        if "RegionsOfInterest" in deleted:
            raise InvalidParameter("RegionsOfInterest is both updated and deleted")
        check_regions(p["RegionsOfInterestForUpdate"])
        request["RegionsOfInterest"] = p["RegionsOfInterestForUpdate"]
    elif "RegionsOfInterest" in deleted:
        request.pop("RegionsOfInterest", None)
    if "DataSharingPreferenceForUpdate" in p:
        request["DataSharingPreference"] = p["DataSharingPreferenceForUpdate"]
    store.update(p["Name"], request)
    return {}


def _named(ctx: ServiceContext, arn: str) -> str:
    name = processor_of(ctx.settings, arn)
    if name is None:
        raise ResourceNotFound(f"No resource of ARN {arn} exists")
    return name


def tag_processor(ctx: ServiceContext, arn: str, tags: dict[str, str]) -> None:
    check_tags(tags)
    ctx.stream_processors().store.tag(_named(ctx, arn), tags, MAX_TAGS)


def untag_processor(ctx: ServiceContext, arn: str, keys: list[str]) -> None:
    for key in keys:
        check_key(key)
    ctx.stream_processors().store.untag(_named(ctx, arn), keys)


def processor_tags(ctx: ServiceContext, arn: str) -> dict[str, str]:
    return ctx.stream_processors().store.get(_named(ctx, arn)).tags


def names_processor(arn: str) -> bool:
    """Whether a tag operation's ResourceArn names a stream processor (not a collection)."""
    return f":{KIND}/" in arn


def with_processor_collection(ctx: ServiceContext, name: str, p: dict[str, Any]) -> dict[str, Any]:
    """The parameters a stream-processor call is authorized on: with the CollectionId of
    its FaceSearch settings (Create's own; the named processor's for the others), so that
    creating or starting a face search needs search rights on that collection."""
    if not name.endswith("StreamProcessor"):
        return p
    settings = p.get("Settings")
    if settings is None and "Name" in p:
        try:
            settings = ctx.stream_processors().store.get(p["Name"]).request["Settings"]
        except ResourceNotFound:
            return p
    collection = ((settings or {}).get("FaceSearch") or {}).get("CollectionId")
    return {**p, "CollectionId": collection} if collection else p


HANDLERS = {
    "CreateStreamProcessor": create_stream_processor,
    "StartStreamProcessor": start_stream_processor,
    "StopStreamProcessor": stop_stream_processor,
    "DescribeStreamProcessor": describe_stream_processor,
    "ListStreamProcessors": list_stream_processors,
    "UpdateStreamProcessor": update_stream_processor,
    "DeleteStreamProcessor": delete_stream_processor,
}
