"""DetectModerationLabels: Rekognition's moderation taxonomy (version 7: three levels),
limited to the labels oculi's models really give evidence for, and the roll-up from the
most specific labels to their parents.

Two sources fill the most specific labels. The ImageNet classifier, always (its classes
and why: oculi/service/moderation_imagenet.py): Weapons, Alcoholic Beverages, Pills
and Gambling. NudeNet's body-part detector, only when the operator
opts in to its AGPL-3.0 model; only the exposed parts that Rekognition names map:

    MALE_GENITALIA_EXPOSED    Explicit > Explicit Nudity > Exposed Male Genitalia
    FEMALE_GENITALIA_EXPOSED  Explicit > Explicit Nudity > Exposed Female Genitalia
    BUTTOCKS_EXPOSED          Explicit > Explicit Nudity > Exposed Buttocks or Anus
    ANUS_EXPOSED              Explicit > Explicit Nudity > Exposed Buttocks or Anus
    FEMALE_BREAST_EXPOSED     Explicit > Explicit Nudity > Exposed Female Nipple
    MALE_BREAST_EXPOSED       Non-Explicit Nudity of Intimate parts and Kissing >
                              Non-Explicit Nudity > Exposed Male Nipple

A body-part label's confidence is its best-scoring part's score; a parent's is its best
child's. NudeNet's "covered" classes fire on ordinarily dressed people (covered breast on
most photos of women), so they are not evidence of swimwear, underwear or obstructed
nudity, and faces, feet, armpits and bellies are not moderation categories. The rest of
the taxonomy has no model here and is never reported: see docs/text-and-moderation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oculi.errors import ResourceNotFound
from oculi.models.fetch import model_paths
from oculi.models.runtime import OnnxModel
from oculi.models.shared import shared
from oculi.vision.moderation import BodyParts, NudityDetector, class_names

DEFAULT_MIN_CONFIDENCE = 50.0
CLASSIFIER_VERSION = "oculi-efficientnet-lite2-imagenet"
NUDITY_VERSION = "nudenet-320n"

EXPLICIT = "Explicit"
EXPLICIT_NUDITY = "Explicit Nudity"
NON_EXPLICIT = "Non-Explicit Nudity of Intimate parts and Kissing"
NON_EXPLICIT_NUDITY = "Non-Explicit Nudity"
VIOLENCE = "Violence"
ALCOHOL = "Alcohol"
DRUGS = "Drugs & Tobacco"
PRODUCTS = "Products"

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
    VIOLENCE: "",
    "Weapons": VIOLENCE,
    ALCOHOL: "",
    "Alcoholic Beverages": ALCOHOL,
    DRUGS: "",
    PRODUCTS: DRUGS,
    "Pills": PRODUCTS,
    "Gambling": "",
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


def rolled_up(
    scores: dict[str, float], min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> list[ModerationLabel]:
    """Labels at or above `min_confidence` percent from the scores (percent) of the most
    specific labels, each parent scoring its best child's; most confident first (a parent
    before its child when they tie)."""
    best: dict[str, float] = {}
    for label, score in scores.items():
        while label and score > 0:
            best[label] = max(best.get(label, 0.0), score)
            label = PARENT[label]
    labels = [
        ModerationLabel(name, PARENT[name], level(name), conf)
        for name, conf in best.items()
        if conf >= min_confidence
    ]
    return sorted(labels, key=lambda lab: (-lab.confidence, lab.level))


def nudity_scores(parts: BodyParts) -> dict[str, float]:
    """Each body-part label's score (percent): its best-scoring part's."""
    scores: dict[str, float] = {}
    for cls, label in CLASS_LABEL.items():
        scores[label] = max(scores.get(label, 0.0), 100.0 * parts.best(cls))
    return scores


def moderation_labels(
    parts: BodyParts, min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> list[ModerationLabel]:
    """The body-part labels alone, rolled up (what the detector finds on its own)."""
    return rolled_up(nudity_scores(parts), min_confidence)


def model_version(nudity: bool) -> str:
    """ModerationModelVersion: the models that ran."""
    return f"{CLASSIFIER_VERSION}+{NUDITY_VERSION}" if nudity else CLASSIFIER_VERSION


def load_nudity_detector(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> NudityDetector:
    """NudeNet's detector on its verified model file, fetching it if allowed; the class
    names are the file's own metadata."""
    (path,) = model_paths(["nudity"], model_dir, auto_fetch)
    model = OnnxModel(path, threads, device)
    return NudityDetector(model, class_names(model.session.get_modelmeta().custom_metadata_map))


shared_nudity_detector = shared(load_nudity_detector)


def check_adapter(project_version: str | None) -> None:
    """oculi has no Custom Moderation adapters: naming one is naming a missing resource."""
    if project_version:
        raise ResourceNotFound(
            f"No custom moderation adapter {project_version}: oculi has "
            "none (Custom Moderation is not supported)"
        )
