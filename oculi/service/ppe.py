"""DetectProtectiveEquipment: persons, their faces, face covers, and the summary.

What oculi can see: a face (its face detector) and whether it is covered (face-mask-
detector's classifier, oculi/vision/face_cover.py). Head covers and hand covers have no
model here, and neither do heads or hands as body parts: they are never reported, and a
Summary that requires HEAD_COVER or HAND_COVER puts every person in PersonsIndeterminate
(never a guess). See docs/ppe.md.

Persons come from a `PersonFinder`: the Person boxes of DetectLabels' person detector at
DetectLabels' default MinConfidence (55). Each face is matched to a person whose box holds
it; a face that no person box holds (a person the detector missed) is a person of its own,
whose body box is not known and so left out. A person box in which no face is found (a
back, a head turned away, a second box on the same body) is a person without body parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oculi.models.fetch import model_paths
from oculi.models.runtime import OnnxModel
from oculi.models.shared import shared
from oculi.service.labels import DEFAULT_MIN_CONFIDENCE as PERSON_MIN_CONFIDENCE
from oculi.vision.face_cover import FaceCoverClassifier
from oculi.vision.faces import FaceAnalyzer
from oculi.vision.labels import ObjectDetector
from oculi.vision.types import FaceDetections

MODEL_VERSION = "oculi-face-cover-1.0"
MAX_PERSONS = 15
# The carrier package's own rule: covered when P(mask) > P(no mask).
COVERED = 0.5
DETECTABLE = frozenset({"FACE_COVER"})
SUMMARY_FLOOR = 50.0  # Rekognition treats a MinConfidence below 50 as 50

# (boxes (N, 4) x1 y1 x2 y2 pixels, scores (N,) in [0, 1]) of whole persons in an RGB image.
PersonFinder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # x1 y1 x2 y2 pixels
    score: float  # detector's, 0..1
    covered: float  # P(face cover), 0..1

    @property
    def is_covered(self) -> bool:
        return self.covered >= COVERED


@dataclass(frozen=True)
class Person:
    id: int
    box: np.ndarray | None  # x1 y1 x2 y2 pixels; None when only the face was seen
    score: float  # 0..1
    face: Face | None


@dataclass(frozen=True)
class Summary:
    with_required: list[int]
    without_required: list[int]
    indeterminate: list[int]


# A face belongs to a person box that holds at least half of the face and has the face's
# centre in its top two thirds (head-and-shoulders boxes put it near the middle).
FACE_INSIDE = 0.5
FACE_TOP = 2 / 3


def face_height_in_box(person: np.ndarray, face: np.ndarray) -> float | None:
    """Where the face's centre lies down the person's box (0 top, 1 bottom), or None when
    the face does not belong to that box."""
    iw = min(person[2], face[2]) - max(person[0], face[0])
    ih = min(person[3], face[3]) - max(person[1], face[1])
    area = (face[2] - face[0]) * (face[3] - face[1])
    if iw <= 0 or ih <= 0 or iw * ih < FACE_INSIDE * area:
        return None
    down = ((face[1] + face[3]) / 2 - person[1]) / max(person[3] - person[1], 1e-6)
    return float(down) if down <= FACE_TOP else None


@dataclass(frozen=True)
class Match:
    box: np.ndarray | None  # the person's box; None for a face without a person box
    score: float
    face: int | None  # index into the faces


def match_persons(
    person_boxes: np.ndarray, person_scores: np.ndarray, faces: FaceDetections
) -> list[Match]:
    """Persons with at most one face each. Face-box pairs that belong together are taken
    greedily, the face highest up its box first (in a group, a face lower in a box is
    usually someone standing in front); a face left over is a person of its own. Persons
    from boxes come first (most confident first), then face-only persons (largest face
    first); at most MAX_PERSONS."""
    pairs = sorted(
        (down, p, f)
        for p in range(len(person_boxes))
        for f in range(len(faces))
        if (down := face_height_in_box(person_boxes[p], faces.boxes[f])) is not None
    )
    face_of: dict[int, int] = {}
    for _, p, f in pairs:
        if p not in face_of and f not in face_of.values():
            face_of[p] = f
    order = [int(i) for i in np.argsort(-person_scores, kind="stable")]
    found = [Match(person_boxes[i], float(person_scores[i]), face_of.get(i)) for i in order]
    alone = [
        int(f) for f in np.argsort(-faces.areas, kind="stable") if int(f) not in face_of.values()
    ]
    found += [Match(None, float(faces.scores[f]), f) for f in alone]
    return found[:MAX_PERSONS]


def has_equipment(person: Person, kind: str, min_confidence: float) -> bool | None:
    """True or False when oculi can tell, else None: no model for `kind`, no face seen, or
    the person, the face or the cover verdict less sure than `min_confidence` percent."""
    face = person.face
    if kind not in DETECTABLE or face is None:
        return None
    if 100.0 * min(person.score, face.score) < min_confidence:
        return None
    p = 100.0 * face.covered
    sure = p if face.is_covered else 100.0 - p
    return face.is_covered if sure >= min_confidence else None


def summarize(persons: list[Person], required: list[str], min_confidence: float) -> Summary:
    """A person surely lacking any required equipment is without it; one surely wearing all
    of it is with it; any other person is indeterminate. As in Rekognition, MinConfidence
    applies to the person, the body part and the equipment, and values below 50 count as
    50."""
    floor = max(min_confidence, SUMMARY_FLOOR)
    out = Summary([], [], [])
    for person in persons:
        verdicts = [has_equipment(person, kind, floor) for kind in required]
        if any(v is False for v in verdicts):
            out.without_required.append(person.id)
        elif verdicts and all(v is True for v in verdicts):
            out.with_required.append(person.id)
        else:
            out.indeterminate.append(person.id)
    return out


def detect_protective_equipment(
    analyzer: FaceAnalyzer,
    classifier: FaceCoverClassifier,
    rgb: np.ndarray,
    find_persons: PersonFinder | None = None,
) -> list[Person]:
    """Persons (at most MAX_PERSONS), each with its face and the face's cover probability."""
    faces = analyzer.detect(rgb)
    if find_persons is None:
        boxes, scores = np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    else:
        boxes, scores = find_persons(rgb)
    matches = match_persons(boxes, scores, faces)
    seen = [m.face for m in matches if m.face is not None]
    covered = dict(zip(seen, classifier(rgb, faces.boxes[seen])))
    return [
        Person(
            i,
            m.box,
            m.score,
            None
            if m.face is None
            else Face(
                faces.boxes[m.face].copy(), float(faces.scores[m.face]), float(covered[m.face])
            ),
        )
        for i, m in enumerate(matches)
    ]


def person_finder(
    detector: ObjectDetector, min_confidence: float = PERSON_MIN_CONFIDENCE
) -> PersonFinder:
    """Person boxes from DetectLabels' person detector at DetectLabels' default
    MinConfidence: the Person instances DetectLabels itself reports."""

    def find(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        objects = detector(rgb)
        keep = np.array([name == "Person" for name in objects.class_names()], bool)
        keep &= objects.scores * 100.0 >= min_confidence
        return objects.boxes[keep], objects.scores[keep]

    return find


def load_face_cover_classifier(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> FaceCoverClassifier:
    """The face-cover classifier on its verified model file, fetching it if allowed."""
    (path,) = model_paths(["face_cover"], model_dir, auto_fetch)
    return FaceCoverClassifier(OnnxModel(path, threads, device))


shared_face_cover_classifier = shared(load_face_cover_classifier)
