"""What a builder's ``weights=`` argument means, decided once.

``resolve_weights`` turns the argument into a ``WeightsSource``: nothing, a
user's file, or a registered record (and whether the classifier stays freshly
initialised, for fine-tuning with another number of classes). The factories
call it once before building, check the input shape against it, and hand it
to ``load_source`` after building; ``load_weights`` does both for a model that
exists already.
"""

import dataclasses
import os

from keras_resnet.weights import download, loading, registry, torch_files


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from.

    Attributes:
        path: A user's weight file, or None.
        record: The registered ``WeightsRecord`` to download, or None.
        fresh_head: Whether the classifier keeps its initial values (a
            registered backbone under a classifier of another width).
    """

    path: str | None = None
    record: registry.WeightsRecord | None = None
    fresh_head: bool = False

    @property
    def pretrained(self):
        """Whether published (registered) weights will be loaded."""
        return self.record is not None

    @property
    def pretrained_top(self):
        """Whether the registered file fills the classifier too."""
        return self.record is not None and self.record.include_top and not self.fresh_head


NONE = WeightsSource()


def is_path(weights):
    """True when ``weights`` is meant as a file rather than a registered tag.

    A registered tag wins over a same-named entry of the working directory
    (an ``imagenet/`` data folder is common), as in keras.applications.
    """
    if isinstance(weights, os.PathLike):
        return True
    text = str(weights)
    if os.sep in text or text.endswith((".h5", ".hdf5", ".keras", *torch_files.SUFFIXES)):
        return True
    if text in {record.tag for record in registry.records()}:
        return False
    return os.path.exists(text)


def resolve_weights(weights, *, model_name, include_top, classes):
    """Decides what ``weights`` loads into a model about to be built.

    Args:
        weights: None, a registered tag (``"imagenet"``) or a file path.
        model_name: The registry key of the architecture (``"resnet50"``).
        include_top: Whether the model will have its classifier.
        classes: The width of that classifier.

    Returns:
        A ``WeightsSource``.

    Raises:
        ValueError: For a missing file, or a tag that serves no file for this
            model, top and number of classes.
    """
    if weights is None:
        return NONE
    if is_path(weights):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise ValueError(
                "The `weights` argument should be None, a registered tag such as "
                f"'imagenet', or the path of an existing weights file. No file "
                f"at that path. Received: weights={weights!r}"
            )
        return WeightsSource(path=path)
    record, fresh_head = registry.resolve(
        model_name, weights, include_top=include_top, classes=classes
    )
    return WeightsSource(record=record, fresh_head=fresh_head)


def load_source(model, source, *, skip_head=False):
    """Assigns the weights ``source`` names to a built model.

    Args:
        model: A built Keras model.
        source: A ``WeightsSource`` from ``resolve_weights``.
        skip_head: Leave the ``predictions`` layer untouched.

    Returns:
        ``model``.
    """
    if source.path is not None:
        loading.load_file(model, source.path, skip_head=skip_head)
    elif source.record is not None:
        loading.load_file(
            model, download.fetch(source.record), skip_head=skip_head or source.fresh_head
        )
    return model


def load_weights(model, weights, *, model_name=None, include_top=None, skip_head=False):
    """Loads a registered tag or a weight file into a built model.

    Args:
        model: A built Keras model (a ``keras_resnet`` builder's, or any model
            whose layer names match the file).
        weights: A tag registered for ``model_name`` (``"imagenet"``), or the
            path of a legacy ``.h5``, ``.weights.h5`` or ``.keras`` file, or of
            a PyTorch checkpoint (``.pth``, ``.pt``, ``.bin``, ``.safetensors``).
        model_name: The registry key of the architecture; defaults to
            ``model.name``. Only used for tags.
        include_top: Whether ``model`` has its classifier; defaults to
            whether it has a ``predictions`` layer. Only used for tags.
        skip_head: Leave the ``predictions`` layer untouched (fine-tuning
            with another number of classes).

    Returns:
        ``model``, with the weights assigned.

    Raises:
        ValueError: For an unknown tag or a missing file (and
            ``WeightsFileError`` or ``WeightsMismatchError``, both
            ``ValueError``, for an unreadable file or one that does not fit;
            the model is then unchanged).
        WeightsDownloadError: If a registered file cannot be downloaded: the
            server failed or was too slow, or (``WeightsSettingError``, also
            a ``ValueError``) a download setting holds an unusable value.
    """
    head = _head(model)
    if include_top is None:
        include_top = head is not None
    classes = head.units if head is not None and hasattr(head, "units") else 1000
    source = resolve_weights(
        weights, model_name=model_name or model.name, include_top=include_top, classes=classes
    )
    return load_source(model, source, skip_head=skip_head)


def _head(model):
    try:
        return model.get_layer(loading.HEAD)
    except ValueError:
        return None
