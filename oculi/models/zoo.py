"""Wires catalogue files into ready pipelines (one loader per task)."""

from __future__ import annotations

from pathlib import Path

from oculi.models.fetch import model_paths
from oculi.models.runtime import OnnxModel, TfliteModel
from oculi.vision.embed import FaceEmbedder
from oculi.vision.faces import Detector, FaceAnalyzer

DETECTOR_CHOICES = ("yunet", "retinaface", "yunet+retinaface")


def _detector(name: str, path: Path, threads: int | None, device: str) -> Detector:
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
    names = detector.split("+")
    *paths, mesh = model_paths([*names, "face_mesh"], model_dir, auto_fetch)
    dets = [_detector(n, path, threads, device) for n, path in zip(names, paths)]
    return FaceAnalyzer(detectors=dets, mesh_model=TfliteModel(mesh, threads))


def load_face_embedder(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> FaceEmbedder:
    """SFace on a verified model file, fetching it if allowed."""
    (path,) = model_paths(["sface"], model_dir, auto_fetch)
    return FaceEmbedder(OnnxModel(path, threads, device))
