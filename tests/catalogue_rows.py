"""Catalogue rows for tests, asked for by property instead of named by hand.

A test that covers "every network with channel attention" or "one network of
each kind" takes its names from here, so a row added to the depth table
enrolls itself in the tests that concern it.
"""

from keras_resnet import catalog
from keras_resnet.architectures import blocks
from keras_resnet.architectures.table import ARCHITECTURES


def imagenet_rows(where=lambda arch: True):
    """Names of the depth table's rows whose ``Architecture`` satisfies ``where``, in order."""
    listed = catalog.list_models("imagenet")
    return [name for name, arch in ARCHITECTURES.items() if name in listed and where(arch)]


def kind(arch):
    """What distinguishes how a row is built, beyond its depth and widths."""
    # Keras's ResNeXt leaves ``groups`` to stack3's default of 32.
    grouped = arch.stack is blocks.stack3 and arch.groups != 1
    return (arch.stack.__name__, getattr(arch.stem, "__name__", None), arch.stem_pool,
            arch.avg_down, arch.attention, arch.preact, grouped)


def one_of_each_kind():
    """The shallowest row of every kind: what a quick run on another backend covers."""
    return _shallowest(kind)


def one_of_each_block():
    """The shallowest row of each block: basic, v1, v2, grouped, and each with attention.

    (``resnet18``, ``resnet50``, ``resnet50v2``, ``resnext50``, then the
    attention networks'.)
    """
    return _shallowest(lambda arch: (arch.stack.__name__, arch.attention))


def _shallowest(key):
    chosen = {}
    for name in imagenet_rows():
        arch = ARCHITECTURES[name]
        best = chosen.get(key(arch))
        if best is None or arch.depth < ARCHITECTURES[best].depth:
            chosen[key(arch)] = name
    return sorted(chosen.values(), key=imagenet_rows().index)
