"""DetectModerationLabels: the moderation labels oculi's nudity detector really supports,
in Rekognition's taxonomy (version 7: three levels).

NudeNet finds body parts, exposed or covered. Only the exposed parts that Rekognition names
map onto its taxonomy:

    MALE_GENITALIA_EXPOSED    Explicit > Explicit Nudity > Exposed Male Genitalia
    FEMALE_GENITALIA_EXPOSED  Explicit > Explicit Nudity > Exposed Female Genitalia
    BUTTOCKS_EXPOSED          Explicit > Explicit Nudity > Exposed Buttocks or Anus
    ANUS_EXPOSED              Explicit > Explicit Nudity > Exposed Buttocks or Anus
    FEMALE_BREAST_EXPOSED     Explicit > Explicit Nudity > Exposed Female Nipple
    MALE_BREAST_EXPOSED       Non-Explicit Nudity of Intimate parts and Kissing >
                              Non-Explicit Nudity > Exposed Male Nipple

A label's confidence is its best-scoring part's score; a parent's is its best child's.
NudeNet's "covered" classes fire on ordinarily dressed people (covered breast on most
photos of women), so they are not evidence of swimwear, underwear or obstructed nudity, and
faces, feet, armpits and bellies are not moderation categories. Every other part of the
taxonomy (Explicit Sexual Activity, Sex Toys, the rest of Non-Explicit Nudity, Obstructed
Intimate Parts, Kissing on the Lips, Swimwear or Underwear, Violence, Visually Disturbing,
Drugs & Tobacco, Alcohol, Rude Gestures, Gambling, Hate Symbols) has no model here and is
never reported: see docs/text-and-moderation.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from oculi.errors import ResourceNotFound
from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import default_model_dir, fetch, verified_path
from oculi.models.runtime import OnnxModel
from oculi.vision.moderation import BodyParts, NudityDetector, class_names

DEFAULT_MIN_CONFIDENCE = 50.0
MODEL_VERSION = "oculi-nudenet-320n"

EXPLICIT = "Explicit"
EXPLICIT_NUDITY = "Explicit Nudity"
NON_EXPLICIT = "Non-Explicit Nudity of Intimate parts and Kissing"
NON_EXPLICIT_NUDITY = "Non-Explicit Nudity"

# Rekognition label -> its parent ("" at the top) for every label oculi can report.
PARENT: dict[str, str] = {
    EXPLICIT: "",
    EXPLICIT_NUDITY: EXPLICIT,
    "Exposed Male Genitalia": EXPLICIT_NUDITY,
    "Exposed Female Genitalia": EXPLICIT_NUDITY,
    "Exposed Buttocks or Anus": EXPLICIT_NUDITY,
    "Exposed Female Nipple": EXPLICIT_NUDITY,
    NON_EXPLICIT: "",
    NON_EXPLICIT_NUDITY: NON_EXPLICIT,
    "Exposed Male Nipple": NON_EXPLICIT_NUDITY,
}

# NudeNet class -> the most specific Rekognition label it is evidence of.
CLASS_LABEL: dict[str, str] = {
    "MALE_GENITALIA_EXPOSED": "Exposed Male Genitalia",
    "FEMALE_GENITALIA_EXPOSED": "Exposed Female Genitalia",
    "BUTTOCKS_EXPOSED": "Exposed Buttocks or Anus",
    "ANUS_EXPOSED": "Exposed Buttocks or Anus",
    "FEMALE_BREAST_EXPOSED": "Exposed Female Nipple",
    "MALE_BREAST_EXPOSED": "Exposed Male Nipple",
}


@dataclass(frozen=True)
class ModerationLabel:
    name: str
    parent: str
    level: int
    confidence: float  # percent


def level(name: str) -> int:
    """A label's depth in the taxonomy: 1 at the top."""
    return 1 if not PARENT[name] else 1 + level(PARENT[name])


def moderation_labels(
    parts: BodyParts, min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> list[ModerationLabel]:
    """Labels at or above `min_confidence` percent, most confident first (a parent before
    its child when they tie)."""
    best: dict[str, float] = {}
    for cls, label in CLASS_LABEL.items():
        score = 100.0 * parts.best(cls)
        while label and score > 0:
            best[label] = max(best.get(label, 0.0), score)
            label = PARENT[label]
    labels = [
        ModerationLabel(name, PARENT[name], level(name), conf)
        for name, conf in best.items()
        if conf >= min_confidence
    ]
    return sorted(labels, key=lambda lab: (-lab.confidence, lab.level))


def load_nudity_detector(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> NudityDetector:
    """NudeNet's detector on its verified model file, fetching it if allowed; the class
    names are the file's own metadata."""
    model_dir = model_dir or default_model_dir()
    if auto_fetch:
        fetch(["nudity"], model_dir)
    model = OnnxModel(verified_path(CATALOGUE["nudity"], model_dir), threads, device)
    return NudityDetector(model, class_names(model.session.get_modelmeta().custom_metadata_map))


_detectors: dict[tuple[Path | None, int | None, str], NudityDetector] = {}
_lock = threading.Lock()


def shared_nudity_detector(
    model_dir: Path | None, threads: int | None, device: str
) -> NudityDetector:
    """One detector per (model folder, threads, device), loaded on first use and shared."""
    key = (model_dir, threads, device)
    with _lock:
        if key not in _detectors:
            _detectors[key] = load_nudity_detector(model_dir, threads, device)
        return _detectors[key]


def check_adapter(project_version: str | None) -> None:
    """oculi has no Custom Moderation adapters: naming one is naming a missing resource."""
    if project_version:
        raise ResourceNotFound(
            f"No custom moderation adapter {project_version}: oculi has "
            "none (Custom Moderation is not supported)"
        )
