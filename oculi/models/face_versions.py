"""FaceModelVersion: the numbers oculi answers for its face-embedding spaces.

Rekognition's service model requires FaceModelVersion and IndexFacesModelVersion to match
`[0-9\\.]+`, so clients (and SDKs that check responses) see a number; what each number
means is this table (docs/face-matching.md shows it too). Embeddings of different
versions are not comparable: a collection keeps the version its faces were made with.

Stores written before the numbers were used hold oculi's model names; `numeric` maps those
names to their number wherever a version is read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaceModelVersion:
    number: str  # what the API answers
    name: str  # oculi's name for it, which stores written before the numbers hold
    model: str  # what makes the embeddings


VERSIONS: tuple[FaceModelVersion, ...] = (
    FaceModelVersion(
        number="1.0",
        name="oculi-sface-flip-1.0",
        model="SFace 2021dec (catalogue `sface`, fp32), 5-point alignment to the 112x112 "
        "ArcFace template, embedding of the crop plus that of its mirror image, L2-normalised",
    ),
)
CURRENT = VERSIONS[-1]
_BY_NAME = {v.name: v.number for v in VERSIONS}
_BY_NUMBER = {v.number: v for v in VERSIONS}


def numeric(version: str) -> str:
    """The API's number for a stored version: an oculi model name becomes its number;
    anything else (already a number) is returned as it is."""
    return _BY_NAME.get(version, version)


def aliases(number: str) -> list[str]:
    """Every stored spelling of version `number`: the number and the old model name."""
    v = _BY_NUMBER.get(number)
    return [number] if v is None else [number, v.name]


def model_name(number: str) -> str | None:
    """oculi's name for version `number`, or None if oculi never made that version."""
    v = _BY_NUMBER.get(number)
    return None if v is None else v.name
