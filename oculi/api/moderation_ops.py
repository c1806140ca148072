"""Rekognition's DetectModerationLabels: JSON in, use case, ModerationLabels out.

ContentTypes (animated, illustrated) has no model in oculi and is left out, as is
HumanLoopActivationOutput: HumanLoopConfig is accepted but never starts a human review
(Amazon Augmented AI is not part of oculi), which the API reports by omitting the output.
"""

from __future__ import annotations

from typing import Any

from oculi.errors import AccessDenied
from oculi.models.catalogue import opted_in
from oculi.service.context import ServiceContext
from oculi.service.image_source import load_image
from oculi.service.moderation import (
    DEFAULT_MIN_CONFIDENCE,
    MODEL_VERSION,
    check_adapter,
    moderation_labels,
    shared_nudity_detector,
)


def detect_moderation_labels_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    if not opted_in():
        raise AccessDenied(
            "DetectModerationLabels uses NudeNet's AGPL-3.0 model, which oculi never enables by "
            "default: start the server with OCULI_ENABLE_AGPL_MODELS=1 to opt in knowingly "
            "(see docs/text-and-moderation.md)"
        )
    check_adapter(params.get("ProjectVersion"))
    image = load_image(params["Image"], ctx.s3)
    s = ctx.settings
    detector = shared_nudity_detector(s.model_dir, ctx.threads, s.device)
    labels = moderation_labels(
        detector(image.rgb), params.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)
    )
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
        "ModerationModelVersion": MODEL_VERSION,
    }
