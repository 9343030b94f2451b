"""The contract between a family of networks and the package.

A family is one module of ``architectures`` (``resnet``, ``densenet``,
``cifar``) that defines a ``FAMILY``: its rows, one ``Row`` per name it
builds (data: depth, default input size, preprocessing, feature levels), and
the public names it exports (``ResNet50`` ...). Each row's ``builder`` is
made by ``common.named_builder`` over the family's ``from_table``, which
builds its stem and trunk and hands them to ``common.classifier``, the one
skeleton every network shares (weights resolved once through the package's
loader, input shape, head, model, load).

Everything above reads the families from ``families()``: the catalogue
(``keras_resnet.build``, ``list_models``), the feature backbones, the
package's exports. A new family is a module with a ``FAMILY`` and one more
name in ``MODULES`` (docs/adding-a-family.md).
"""

import dataclasses
import functools
import importlib
from collections.abc import Callable, Mapping

#: Every family's module, in catalogue order: a new family is one more name.
MODULES = ("resnet", "cifar", "densenet")

#: The catalogue's groups of rows (``list_models(family=...)``).
GROUPS = ("imagenet", "cifar", "demo")


@dataclasses.dataclass(frozen=True)
class Row:
    """One named network.

    Attributes:
        name: The name users pass to ``build`` (``"resnet50"``).
        family: The catalogue's group: ``"imagenet"``, ``"cifar"`` or ``"demo"``.
        builder: Function of keras.applications' arguments (``include_top``,
            ``weights``, ``input_tensor``, ``input_shape``, ``pooling``,
            ``classes``, ``classifier_activation``), ``model_name`` and the
            family's options, returning a ``keras.Model``.
        depth: Weighted layers (the number in the paper's names).
        default_size: The image side the network is trained and built at.
        preprocessing: The ``preprocess_input`` mode of its weights.
        plain: Whether it is a plain (shortcut-free) network.
        feature_layers: The layer read for each feature level
            (``{"C2": "conv2_block3_out", ...}``); None when the row is no
            feature backbone.
        output_strides: The output strides ``builder`` takes (dilating the
            last stages for 16 and 8).
    """

    name: str
    family: str
    builder: Callable
    depth: int
    default_size: int
    preprocessing: str
    plain: bool = False
    feature_layers: Mapping[str, str] | None = None
    output_strides: tuple = (32,)

    @property
    def takes_registered_weights(self):
        """Whether ``weights=`` may name a registered tag (only the ImageNet family)."""
        return self.family == "imagenet" and not self.plain


@dataclasses.dataclass(frozen=True)
class Family:
    """What a family module gives the package.

    Attributes:
        rows: Its ``Row`` objects, in table order.
        exports: The names ``keras_resnet`` exports from the module
            (``"ResNet50"`` ...).
        find: Function from a normalised name to a ``Row`` made on demand
            (CIFAR's ``plainN`` for any ``N = 6n + 2``), or None for no such
            names.
    """

    rows: tuple
    exports: tuple = ()
    find: Callable | None = None


@functools.cache
def _modules():
    return tuple(
        importlib.import_module(f"keras_resnet.architectures.{module}") for module in MODULES
    )


def families():
    """Every registered family's ``FAMILY``, in ``MODULES`` order."""
    return tuple(module.FAMILY for module in _modules())


def exports():
    """Every public name the families export, mapped to its object."""
    return {name: getattr(module, name) for module in _modules() for name in module.FAMILY.exports}
