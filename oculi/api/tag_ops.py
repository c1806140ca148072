"""Rekognition's tag operations: TagResource, UntagResource, ListTagsForResource, on a
collection's ARN or a stream processor's (oculi.streams.ops)."""

from __future__ import annotations

from typing import Any

from oculi.service.context import ServiceContext
from oculi.service.tags import Tags
from oculi.streams import ops as streams


def _tags(ctx: ServiceContext) -> Tags:
    return Tags(ctx.collections().store, ctx.settings)


def tag_resource(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    if streams.names_processor(p["ResourceArn"]):
        streams.tag_processor(ctx, p["ResourceArn"], p["Tags"])
        return {}
    _tags(ctx).tag(p["ResourceArn"], p["Tags"])
    return {}


def untag_resource(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    if streams.names_processor(p["ResourceArn"]):
        streams.untag_processor(ctx, p["ResourceArn"], p["TagKeys"])
        return {}
    _tags(ctx).untag(p["ResourceArn"], p["TagKeys"])
    return {}


def list_tags_for_resource(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    if streams.names_processor(p["ResourceArn"]):
        return {"Tags": streams.processor_tags(ctx, p["ResourceArn"])}
    return {"Tags": _tags(ctx).list(p["ResourceArn"])}
