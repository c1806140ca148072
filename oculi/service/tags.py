"""Resource tags: TagResource, UntagResource, ListTagsForResource and CreateCollection's Tags.

A resource is named by its ARN, `arn:aws:rekognition:<region>:<account>:<kind>/<id>`; the
form without the leading `arn:`, which CreateCollection and DescribeCollection answer as
Rekognition does, is accepted too. Collections are the only kind of resource oculi has;
an ARN of another kind, region or account names nothing here (ResourceNotFoundException).

Rekognition's limits: at most 200 tags on a resource (ServiceQuotaExceededException past
that), keys of 1-128 and values of 0-256 characters made of letters, numbers, spaces and
`_ . : / = + - @`, and no key starting with `aws:` (reserved for AWS; refused in any
letter case). The service model states the character classes as `\\p{L}\\p{Z}\\p{N}`, which
Python's `re` cannot read, so they are checked here.
"""

from __future__ import annotations

import unicodedata

from oculi.errors import InvalidParameter, ResourceNotFound, ServiceQuotaExceeded
from oculi.settings import Settings
from oculi.store.faces import FaceStore, TooManyTags

MAX_TAGS = 200
MAX_KEY = 128
MAX_VALUE = 256
RESERVED_PREFIX = "aws:"
TAG_PUNCTUATION = frozenset("_.:/=+-@")


def collection_arn(settings: Settings, collection_id: str) -> str:
    """The ARN CreateCollection and DescribeCollection answer (without `arn:`, as AWS's)."""
    return f"aws:rekognition:{settings.region}:{settings.account_id}:collection/{collection_id}"


def collection_of(settings: Settings, arn: str) -> str | None:
    """The collection id `arn` names on this server, or None if it names no collection
    (another kind of resource, region or account, or not an ARN at all)."""
    parts = arn.removeprefix("arn:").split(":", 4)
    if len(parts) != 5 or parts[:2] != ["aws", "rekognition"]:
        return None
    region, account, resource = parts[2:]
    kind, _, rid = resource.partition("/")
    if (region, account, kind) != (settings.region, settings.account_id, "collection"):
        return None
    return rid or None


def _tag_text(text: str) -> bool:
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY:
        raise InvalidParameter(f"Tag key {key!r} must be 1 to {MAX_KEY} characters long")
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidParameter(f"Tag key {key!r}: the prefix 'aws:' is reserved for AWS use")
    if not _tag_text(key):
        raise InvalidParameter(
            f"Tag key {key!r} may hold only letters, numbers, spaces and _ . : / = + - @"
        )


def check_tags(tags: dict[str, str]) -> None:
    """InvalidParameterException unless every key and value is a valid tag."""
    if len(tags) > MAX_TAGS:
        raise InvalidParameter(f"At most {MAX_TAGS} tags may be given")
    for key, value in tags.items():
        check_key(key)
        if len(value) > MAX_VALUE or not _tag_text(value):
            raise InvalidParameter(
                f"Tag value of {key!r} must be at most {MAX_VALUE} letters, numbers, spaces "
                "and _ . : / = + - @"
            )


def _no_resource(arn: str) -> ResourceNotFound:
    return ResourceNotFound(f"No resource of ARN {arn} exists")


class Tags:
    def __init__(self, store: FaceStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def _collection(self, arn: str) -> str:
        cid = collection_of(self.settings, arn)
        if cid is None:
            raise _no_resource(arn)
        return cid

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        check_tags(tags)
        try:
            if not self.store.tag_collection(self._collection(arn), tags, MAX_TAGS):
                raise _no_resource(arn)
        except TooManyTags:
            raise ServiceQuotaExceeded(
                f"{arn} would hold more than {MAX_TAGS} tags; remove some first"
            ) from None

    def untag(self, arn: str, keys: list[str]) -> None:
        for key in keys:
            check_key(key)
        if not self.store.untag_collection(self._collection(arn), keys):
            raise _no_resource(arn)

    def list(self, arn: str) -> dict[str, str]:
        found = self.store.collection_tags(self._collection(arn))
        if found is None:
            raise _no_resource(arn)
        return found
