"""Rekognition's DetectModerationLabels: JSON in, use case, ModerationLabels out.

The ImageNet classifier always runs (Weapons, Alcoholic Beverages, Pills, Gambling);
NudeNet's body-part detector (the nudity labels) only when the operator has opted in to
its AGPL-3.0 model with OCULI_ENABLE_AGPL_MODELS=1. ModerationModelVersion names the
models that ran.

ContentTypes (animated, illustrated) has no model in oculi and is left out, as is
HumanLoopActivationOutput: HumanLoopConfig is accepted but never starts a human review
(Amazon Augmented AI is not part of oculi), which the API reports by omitting the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oculi.models.catalogue import opted_in
from oculi.service.context import ServiceContext
from oculi.service.image_source import load_image
from oculi.service.labels import shared_image_classifier
from oculi.service.moderation import (
    DEFAULT_MIN_CONFIDENCE,
    check_adapter,
    model_version,
    nudity_scores,
    rolled_up,
    shared_nudity_detector,
)
from oculi.service.moderation_imagenet import imagenet_scores


def moderation_labels(
    ctx: ServiceContext, rgb: np.ndarray, min_confidence: float
) -> list[dict[str, Any]]:
    """One image's ModerationLabels at `min_confidence`."""
    s = ctx.settings
    classifier = shared_image_classifier(s.model_dir, ctx.threads, s.device)
    scores = imagenet_scores(classifier(rgb)[0])
    if opted_in():
        detector = shared_nudity_detector(s.model_dir, ctx.threads, s.device)
        scores |= nudity_scores(detector(rgb))  # no label comes from both
    return [
        {
            "Confidence": lab.confidence,
            "Name": lab.name,
            "ParentName": lab.parent,
            "TaxonomyLevel": lab.level,
        }
        for lab in rolled_up(scores, min_confidence)
    ]


def detect_moderation_labels_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    check_adapter(params.get("ProjectVersion"))
    image = load_image(params["Image"], ctx.s3)
    return {
        "ModerationLabels": moderation_labels(
            ctx, image.rgb, params.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)
        ),
        "ModerationModelVersion": model_version(opted_in()),
    }
