"""The catalogue: every named model of the package, found by name in one place.

Each family of ``architectures`` (``architectures.family.MODULES``) gives
its rows, one ``ModelEntry`` (``family.Row``) per name; this module gathers
them and is the only place names are looked up: ``build``, ``list_models``,
the command line, training and the weights registry all come here.

Families:
    ``"imagenet"``: ResNet-18 ... ResNeXt-101 (keras.applications' names and
        weights), torchvision's and timm's layouts (``resnet50b``,
        ``resnet50c``, ``resnet18d`` ... ``resnet152d``, ``wide_resnet50_2``,
        ``resnext101_32x8d`` ...), with ``include_plain=True`` the paper's
        plain-18/34, then DenseNet-121/169/201 (Keras's names and weights)
        and DenseNet-161.
    ``"cifar"``: the paper's CIFAR networks, ResNet-20 ... ResNet-1202, the
        pre-activation ResNet-164/1001, plain ``plainN`` for any
        ``N = 6n + 2``, and the DenseNet paper's Table 2: DenseNet
        ``densenet40_k12``, ``densenet100_k12``, ``densenet100_k24`` and
        DenseNet-BC ``densenet_bc100_k12``, ``densenet_bc250_k24``,
        ``densenet_bc190_k40`` (depth L, growth rate k).
    ``"demo"``: ``small-resnet``, the small network of the digits demo.

Each entry carries the input convention its family was trained with
(``preprocessing``); a weight file registered with another convention says so
in its record, and ``preprocessing_mode(name, weights)`` gives the one that
applies.

Example:
    >>> import keras_resnet
    >>> keras_resnet.list_models()[:3]
    ['resnet18', 'resnet34', 'resnet50']
    >>> model = keras_resnet.build("resnet56")      # a CIFAR net, 10 classes
"""

import functools
import inspect

from keras_resnet import preprocessing
from keras_resnet import weights as weights_lib
from keras_resnet.architectures import family

#: The groups ``list_models(family=...)`` takes.
FAMILIES = family.GROUPS

#: One named model: a row of its family (``architectures.family.Row``).
ModelEntry = family.Row


def _normalize(name):
    return str(name).lower().replace("-", "").replace("_", "")


def _make_entries():
    rows = [row for fam in family.families() for row in fam.rows]
    # Grouped as ``list_models`` lists them, each group in its families' order.
    rows.sort(key=lambda row: FAMILIES.index(row.family))
    return {_normalize(row.name): row for row in rows}


_ENTRIES = _make_entries()


def list_models(family="imagenet", *, include_plain=False):
    """Returns model names, in table order.

    Args:
        family: ``"imagenet"`` (the default: the models with published
            weights), ``"cifar"``, ``"demo"``, or None for every family.
        include_plain: Also list the paper's plain networks (``plain18``,
            ``plain34``, ``plain20`` ... ``plain110``).

    Raises:
        ValueError: For an unknown family.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(
            f"`family` should be one of {FAMILIES} or None. Received: family={family!r}"
        )
    return [
        entry.name
        for entry in _ENTRIES.values()
        if (family is None or entry.family == family) and (include_plain or not entry.plain)
    ]


def get(name):
    """Returns the ``ModelEntry`` of ``name`` (case-insensitive, ``-``/``_`` ignored).

    Raises:
        ValueError: For an unknown name, listing the known ones.
    """
    key = _normalize(name)
    entry = _ENTRIES.get(key)
    for fam in family.families():
        if entry is None and fam.find is not None:
            entry = fam.find(key)
    if entry is None:
        raise ValueError(
            f"Unknown model {name!r}. Known models: "
            f"{', '.join(list_models(None, include_plain=True))} (and plainN for any "
            "CIFAR depth N = 6n + 2)."
        )
    return entry


def build(name, *args, **kwargs):
    """Builds a catalogued model by name, with its family's defaults.

    Args:
        name: A name from ``list_models(None, include_plain=True)``
            (case-insensitive), e.g. ``"resnet50"``, ``"resnet56"``,
            ``"plain34"``, ``"small-resnet"``.
        *args, **kwargs: The family builder's arguments: those of
            ``keras_resnet.ResNet50`` for the ImageNet family (``include_top``,
            ``weights``, ``input_tensor``, ``input_shape``, ``pooling``,
            ``classes``, ``classifier_activation``, ``shortcut``,
            ``survival_prob``, ``zero_init_gamma``, ``model_name``,
            ``output_stride``), the same with CIFAR defaults (10 classes, no
            weights) and ``unit`` (a residual unit of He et al. 2016,
            Figure 4) for the CIFAR family.
            DenseNet rows take keras.applications' arguments and
            ``model_name`` only (no shortcut or stochastic-depth options).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an unknown name or argument, or an invalid value.

    Example:
        >>> base = build("resnet50", weights=None, include_top=False, pooling="avg")
    """
    entry = get(name)
    try:
        inspect.signature(entry.builder).bind(*args, **kwargs)
    except TypeError as e:
        raise ValueError(f"Bad arguments for {entry.name!r}: {e}") from None
    return entry.builder(*args, **kwargs)


def preprocessing_mode(name, weights=None):
    """The ``preprocess_input`` mode for model ``name`` with ``weights``.

    A registered record that states its own convention wins; otherwise the
    family's. Files and ``None`` take the family's.
    """
    entry = get(name)
    if isinstance(weights, str) and not weights_lib.is_path(weights):
        tag = weights_lib.canonical_tag(entry.name, weights)
        for record in weights_lib.records(entry.name):
            if record.tag == tag and record.preprocessing:
                return record.preprocessing
    return entry.preprocessing


def preprocess_input_for(name, weights=None):
    """Returns the ``preprocess_input`` function of a catalogued model."""
    return functools.partial(
        preprocessing.preprocess_input, mode=preprocessing_mode(name, weights)
    )


def register_weights(model_name, tag, **fields):
    """Registers a weight file for a catalogued model, so that ``weights=tag`` finds it.

    Example:
        >>> register_weights("resnet50", "mycorp", url="https://mirror.local/r50.h5",
        ...                  file_hash="<sha256>", include_top=False)
        >>> base = ResNet50(weights="mycorp", include_top=False)

    Args:
        model_name: A model from ``keras_resnet.list_models()``.
        tag: The name to pass as ``weights=``.
        **fields: ``url``, ``file_hash`` and ``include_top`` (required), and
            ``hash_algorithm``, ``file_name``, ``size``, ``num_params``,
            ``classes``, ``preprocessing``, ``top1``, ``top5``,
            ``accuracy_source``, ``license``, ``overwrite`` as documented in
            ``keras_resnet.weights.registry.add_record``.

    Returns:
        The new ``WeightsRecord``.

    Raises:
        ValueError: For an unknown model, a malformed field, or a record that
            exists already (without ``overwrite=True``).
    """
    known = list_models()
    if model_name not in known:
        raise ValueError(
            f"`model_name` should be one of {known}. Received: model_name={model_name!r}"
        )
    preprocessing_arg = fields.get("preprocessing")
    if preprocessing_arg is not None and preprocessing_arg not in preprocessing.MODES:
        raise ValueError(
            f"`preprocessing` should be one of {preprocessing.MODES} or None. "
            f"Received: preprocessing={preprocessing_arg!r}"
        )
    return weights_lib.registry.add_record(model_name, tag, **fields)
