"""Installs keras_resnet: ``pip install ".[tensorflow]"`` (or ``.[jax]``, ``.[torch]``).

The distribution is named ``keras3-resnet``: the name ``keras-resnet`` belongs
to an unrelated 2019 project on the public index (which also installs a
top-level ``keras_resnet``; keras_resnet/_conflicts.py warns if both are
installed). The import name stays ``keras_resnet``.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "keras_resnet" / "__init__.py").read_text(), re.M
).group(1)

TRAIN_STACK = ["tensorflow>=2.16", "scikit-learn", "matplotlib", "pillow"]

setup(
    name="keras3-resnet",
    version=VERSION,
    description="ResNet, ResNetV2 and ResNeXt for Keras 3: a drop-in for "
    "keras.applications with weights, training and a command line.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_resnet", "keras_resnet.*"]),
    package_data={"keras_resnet": ["*.json", "weights/*.json"]},
    # Tested with Keras 3.12.0 and 3.15.1; keras_resnet/internals.py holds the
    # few Keras internals it relies on, and tests/test_internals.py fails when a
    # release changes them.
    install_requires=["keras>=3.12,<4", "numpy", "h5py"],
    # Extras say what they bring. The demo's environment is `.[tensorflow]`
    # alone (about 2 GB); `.[test]` adds the stack the tests compare against.
    extras_require={
        # The TensorFlow backend and everything `keras-resnet train` uses on
        # any backend: tf.data, scikit-learn's digits, Pillow, the curves.
        "tensorflow": TRAIN_STACK,
        "jax": ["jax[cpu]"],
        # The PyTorch backend. Reading .pth and .safetensors files needs none
        # of it: the package parses both formats itself.
        "torch": ["torch>=2.1"],
        # `keras-resnet export`: the converters Keras's exporter calls, the
        # runtimes that check each file (ONNX Runtime, OpenVINO, LiteRT) and
        # the int8 tools (ONNX Runtime's quantize_static, NNCF for OpenVINO).
        "export": [
            "tf2onnx>=1.17",
            "onnx>=1.17",
            "onnxruntime>=1.20",
            "openvino>=2025.0",
            "ai-edge-litert>=2.0",
            "nncf>=3.0",
        ],
        # The references the tests compare against: Keras 2 files (tf_keras),
        # torchvision's and timm's models, the safetensors library.
        "test": [
            "pytest",
            "pytest-xdist",
            "tf_keras",
            "torchvision",
            "timm",
            "safetensors",
            *TRAIN_STACK,
        ],
        # Names of earlier releases, kept so existing install lines still work.
        "train": TRAIN_STACK,
        "plot": ["matplotlib"],
    },
    entry_points={"console_scripts": ["keras-resnet=keras_resnet.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
