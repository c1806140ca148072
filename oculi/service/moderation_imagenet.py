"""The moderation labels the ImageNet-1k classifier (EfficientNet-Lite2, Apache-2.0) gives
evidence for: which of its 1000 classes count, and each label's confidence.

A label's confidence is the summed softmax probability (percent) of its classes; labels
under IMAGE_LABEL_FLOOR are never reported, as in DetectLabels. Every class considered
and rejected, and why (projectiles, archery bows, armour, military vehicles, drinking
vessels that need not hold alcohol, syringes, swimwear), is listed in
docs/text-and-moderation.md; the swimwear classes are left out on measurement (together
they reach 50% on 4 of the 370 ordinary images of bench/moderation.py, close portraits).
"""

from __future__ import annotations

import numpy as np

from oculi.service.labels import IMAGE_LABEL_FLOOR

# ImageNet-1k class index -> the most specific Rekognition moderation label it is
# evidence of (oculi/service/moderation.py's PARENT places the label in the taxonomy).
CLASS_LABEL: dict[int, str] = {
    413: "Weapons",  # assault rifle
    763: "Weapons",  # revolver
    764: "Weapons",  # rifle
    471: "Weapons",  # cannon
    657: "Weapons",  # missile
    440: "Alcoholic Beverages",  # beer bottle
    441: "Alcoholic Beverages",  # beer glass
    907: "Alcoholic Beverages",  # wine bottle
    966: "Alcoholic Beverages",  # red wine
    720: "Pills",  # pill bottle
    800: "Gambling",  # slot
}


def imagenet_scores(probs: np.ndarray) -> dict[str, float]:
    """Each label's summed class probability in percent, from the 1000 ImageNet class
    probabilities; labels under the floor are left out."""
    scores: dict[str, float] = {}
    for index, label in CLASS_LABEL.items():
        scores[label] = scores.get(label, 0.0) + 100.0 * float(probs[index])
    return {label: min(100.0, s) for label, s in scores.items() if s >= IMAGE_LABEL_FLOOR}
