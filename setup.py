"""Installs keras_resnet: ``pip install .`` or ``pip install ".[tensorflow,test]"``.

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
    extras_require={
        "tensorflow": ["tensorflow>=2.16"],
        "jax": ["jax[cpu]"],
        # The PyTorch backend, and torchvision's and timm's models for the tests.
        "torch": ["torch>=2.1", "torchvision", "timm", "safetensors"],
        "plot": ["matplotlib"],
        # keras-resnet train/evaluate/predict: tf.data, the digits, the curves, image checks.
        "train": ["tensorflow>=2.16", "scikit-learn", "matplotlib", "pillow"],
        "test": [
            "pytest",
            "pytest-xdist",
            "tf_keras",
            "scikit-learn",
            "matplotlib",
            "pillow",
        ],
    },
    entry_points={"console_scripts": ["keras-resnet=keras_resnet.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "License :: OSI Approved :: Apache Software License",
    ],
)
