"""Old import paths, kept working for one release with a DeprecationWarning.

Version 0.2 gave the package folders that show its architecture. The flat
modules of 0.1 (``keras_resnet.models``, ``keras_resnet.training`` ...) and a
few names that moved still import, through the tables below, and warn once
with the new path. Nothing else in the package imports through here, so the
tables are the whole of the compatibility layer; they go in 0.3.
"""

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: Old module path -> the module that replaced it.
MODULES = {
    "keras_resnet.models": "keras_resnet.architectures.resnet",
    "keras_resnet.blocks": "keras_resnet.architectures.blocks",
    "keras_resnet.layers": "keras_resnet.architectures.layers",
    "keras_resnet.cifar": "keras_resnet.architectures.cifar",
    "keras_resnet.inference": "keras_resnet.deploy",
    "keras_resnet.performance": "keras_resnet.training.precision",
    "keras_resnet.recipes": "keras_resnet.training.recipes",
    "keras_resnet.complexity": "keras_resnet.analysis.complexity",
    "keras_resnet.commands": "keras_resnet.cli.commands",
}

#: (old module, name) -> ("new.module:name", keyword arguments bound to it),
#: for names that left their module.
NAMES = {
    ("keras_resnet.weights", "register_weights"): ("keras_resnet.catalog:register_weights", {}),
    ("keras_resnet.architectures.cifar", "build"): ("keras_resnet.catalog:build", {}),
    ("keras_resnet.architectures.cifar", "list_models"): (
        "keras_resnet.catalog:list_models",
        {"family": "cifar", "include_plain": True},
    ),
    ("keras_resnet.architectures.resnet", "build"): ("keras_resnet.catalog:build", {}),
    ("keras_resnet.architectures.resnet", "list_models"): ("keras_resnet.catalog:list_models", {}),
    ("keras_resnet.architectures.resnet", "linear_survival_probs"): (
        "keras_resnet.architectures.residual:linear_survival_probs",
        {},
    ),
    ("keras_resnet.architectures.resnet", "resolve_input_shape"): (
        "keras_resnet.architectures.common:resolve_input_shape",
        {},
    ),
    ("keras_resnet.architectures.resnet", "head"): ("keras_resnet.architectures.common:head", {}),
    ("keras_resnet.architectures.resnet", "preprocess_input_for"): (
        "keras_resnet.catalog:preprocess_input_for",
        {},
    ),
}

#: Modules whose old path is still the documented one: no warning.
QUIET = {"keras_resnet.blocks", "keras_resnet.cifar"}


def _warn(old, new):
    warnings.warn(
        f"{old} is deprecated and will be removed in keras_resnet 0.3; use {new}.",
        DeprecationWarning,
        stacklevel=3,
    )


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``import keras_resnet.models`` to the module that replaced it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # A plain module; exec_module makes it forward.

    def exec_module(self, module):
        # A forwarding module rather than the new module itself, whose
        # ``__spec__`` the import system would otherwise overwrite.
        new = MODULES[module.__name__]
        if module.__name__ not in QUIET:
            _warn(module.__name__, new)
        target = importlib.import_module(new)
        module.__doc__ = target.__doc__
        module.__getattr__ = lambda name: getattr(target, name)
        module.__dir__ = lambda: dir(target)


def install():
    """Puts the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())


def module_getattr(module_name):
    """A module ``__getattr__`` that serves the names ``NAMES`` moved out of it."""

    def __getattr__(name):
        if (module_name, name) not in NAMES:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        target, bound = NAMES[(module_name, name)]
        new_module, new_name = target.split(":")
        arguments = "".join(f", {k}={v!r}" for k, v in bound.items())
        new = f"{new_module}.{new_name}" + (f"(...{arguments})" if bound else "")
        _warn(f"{module_name}.{name}", new)
        value = getattr(importlib.import_module(new_module), new_name)
        return functools.partial(value, **bound) if bound else value

    return __getattr__
