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


def detect_moderation_labels_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    check_adapter(params.get("ProjectVersion"))
    image = load_image(params["Image"], ctx.s3)
    s = ctx.settings
    classifier = shared_image_classifier(s.model_dir, ctx.threads, s.device)
    scores = imagenet_scores(classifier(image.rgb)[0])
    nudity = opted_in()
    if nudity:
        detector = shared_nudity_detector(s.model_dir, ctx.threads, s.device)
        scores |= nudity_scores(detector(image.rgb))  # no label comes from both
    labels = rolled_up(scores, params.get("MinConfidence", DEFAULT_MIN_CONFIDENCE))
    return {
        "ModerationLabels": [
            {
                "Confidence": lab.confidence,
                "Name": lab.name,
                "ParentName": lab.parent,
                "TaxonomyLevel": lab.level,
            }
            for lab in labels
        ],
        "ModerationModelVersion": model_version(nudity),
    }
