"""Wires catalogue files into ready pipelines (one loader per task)."""

from __future__ import annotations

from pathlib import Path

from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import default_model_dir, fetch, verified_path
from oculi.models.runtime import OnnxModel, TfliteModel
from oculi.vision.embed import FaceEmbedder
from oculi.vision.faces import Detector, FaceAnalyzer

DETECTOR_CHOICES = ("yunet", "retinaface", "yunet+retinaface")


def _detector(name: str, model_dir: Path, threads: int | None, device: str) -> Detector:
    path = verified_path(CATALOGUE[name], model_dir)
    if name == "yunet":
        from oculi.vision.yunet import YuNet

        return YuNet(OnnxModel(path, threads, device))
    from oculi.vision.retinaface import RetinaFace

    return RetinaFace(OnnxModel(path, threads, device))


def load_face_analyzer(
    model_dir: Path | None = None,
    detector: str = "yunet",
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> FaceAnalyzer:
    """A FaceAnalyzer on verified model files, fetching missing ones if allowed."""
    if detector not in DETECTOR_CHOICES:
        raise ValueError(f"detector must be one of {DETECTOR_CHOICES}")
    model_dir = model_dir or default_model_dir()
    names = detector.split("+")
    if auto_fetch:
        fetch(names + ["face_mesh"], model_dir)
    dets = [_detector(n, model_dir, threads, device) for n in names]
    mesh = TfliteModel(verified_path(CATALOGUE["face_mesh"], model_dir), threads)
    return FaceAnalyzer(detectors=dets, mesh_model=mesh)


def load_face_embedder(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> FaceEmbedder:
    """SFace on a verified model file, fetching it if allowed."""
    model_dir = model_dir or default_model_dir()
    if auto_fetch:
        fetch(["sface"], model_dir)
    return FaceEmbedder(OnnxModel(verified_path(CATALOGUE["sface"], model_dir), threads, device))
