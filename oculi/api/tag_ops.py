"""Rekognition's tag operations: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from oculi.service.context import ServiceContext
from oculi.service.tags import Tags


def _tags(ctx: ServiceContext) -> Tags:
    return Tags(ctx.collections().store, ctx.settings)


def tag_resource(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    _tags(ctx).tag(p["ResourceArn"], p["Tags"])
    return {}


def untag_resource(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    _tags(ctx).untag(p["ResourceArn"], p["TagKeys"])
    return {}


def list_tags_for_resource(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": _tags(ctx).list(p["ResourceArn"])}
