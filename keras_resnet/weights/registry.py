"""The registry of weight files: one record per file, kept as data.

The published records live next to this module, one JSON file per publisher
(shipped in the package): ``registry.json`` (Keras's files),
``registry-torchvision.json`` and ``registry-timm.json`` (PyTorch checkpoints,
converted on load); ``register_weights`` adds records at run time. A record
is found by ``(model, tag, include_top)``; ``weights="imagenet"`` in a builder
is such a lookup (``resolve``).

Hashes are the publisher's: Keras states full md5 digests; torchvision and
timm name their files ``<name>-<first sha256 digits>.pth`` and torch hub
checks that prefix, so their records carry the prefix
(``WeightsRecord.hash_kind``).
"""

import dataclasses
import json
import os
import re
import urllib.parse

#: Replaces the base URL of every registered file (mirrors, air-gapped sites):
#: an ``http(s)://`` or ``file://`` URL, checked when a download starts.
URL_ENV = "KERAS_RESNET_WEIGHTS_URL"

# Each file of published records, with the publisher its records default to.
_REGISTRY_FILES = {
    os.path.join(os.path.dirname(__file__), name): source
    for name, source in (
        ("registry.json", "keras"),
        ("registry-torchvision.json", "torchvision"),
        ("registry-timm.json", "timm"),
    )
}
# The file of Keras's records, which weights/record.py writes to.
_REGISTRY_FILE = next(iter(_REGISTRY_FILES))
_HASH_LENGTHS = {"md5": 32, "sha256": 64}
# torch hub accepts a prefix of any length; torchvision and timm publish 8
# digits (32 bits), and less would guard little. Longer prefixes stop at 16
# so that an md5 digest given without hash_algorithm="md5" is refused.
PREFIX_DIGITS = (8, 16)


@dataclasses.dataclass(frozen=True)
class WeightsRecord:
    """One weight file.

    Attributes:
        model: The architecture's registry key (``"resnet50"``).
        tag: The name users pass as ``weights=`` (``"imagenet"``).
        include_top: Whether the file holds the classifier.
        file_name: The name of the file in the cache.
        url: Where the file is published.
        file_hash: The file's hex digest as its publisher states it: all of
            it, or (torchvision, timm) the first digits of its sha256.
        hash_algorithm: ``"md5"`` (Keras's published files) or ``"sha256"``.
        size: The file's size in bytes, when known.
        num_params: Parameters of the model the file is for.
        classes: Width of the classifier (None without the top).
        preprocessing: The ``preprocess_input`` mode the weights expect, when
            it differs from the architecture's own (None: the architecture's,
            ``catalog.preprocessing_mode`` resolves it).
        top1: Published ImageNet top-1 accuracy (single centre crop at
            ``resolution``).
        top5: Published ImageNet top-5 accuracy.
        accuracy_source: Where ``top1``/``top5`` were published.
        license: The licence of the weights.
        source: Who published the file (``"keras"``, ``"torchvision"``,
            ``"timm"``), None for run-time records.
        resolution: The image side the accuracies were measured at (None:
            224).
        eval_transform: The publisher's evaluation transform, when it states
            one: ``{"resize": shorter side, "crop": centre crop side,
            "interpolation": "bilinear" | "bicubic", "mean": [r, g, b],
            "std": [r, g, b]}`` (mean and std on [0, 1] pixels);
            ``keras_resnet.data.eval_transform_for`` applies it.
    """

    model: str
    tag: str
    include_top: bool
    file_name: str
    url: str
    file_hash: str
    hash_algorithm: str = "sha256"
    size: int | None = None
    num_params: int | None = None
    classes: int | None = None
    preprocessing: str | None = None
    top1: float | None = None
    top5: float | None = None
    accuracy_source: str | None = None
    license: str | None = None
    source: str | None = None
    resolution: int | None = None
    eval_transform: dict | None = None

    @property
    def key(self):
        return (self.model, self.tag, self.include_top)

    @property
    def hash_kind(self):
        """``"full"`` for a whole digest, ``"prefix"`` for its first digits."""
        full = len(self.file_hash) == _HASH_LENGTHS[self.hash_algorithm]
        return "full" if full else "prefix"

    def matches(self, digest):
        """Whether a file's hex ``digest`` is this record's (a prefix must start it)."""
        digest, expected = digest.lower(), self.file_hash.lower()
        return digest == expected if self.hash_kind == "full" else digest.startswith(expected)

    @property
    def is_torch_checkpoint(self):
        """Whether the file is a PyTorch checkpoint (its classifier can be skipped on load)."""
        return self.file_name.endswith((".pth", ".pt", ".bin", ".safetensors"))

    @property
    def download_url(self):
        """The URL to fetch, honouring ``KERAS_RESNET_WEIGHTS_URL``.

        The variable is taken as it is; ``download.fetch`` refuses one that is
        not a URL it can fetch, naming it.
        """
        base = os.environ.get(URL_ENV)
        if base:
            return base.rstrip("/") + "/" + self.file_name
        return self.url


def _load_published():
    published = []
    for path, source in _REGISTRY_FILES.items():
        with open(path, encoding="utf-8") as f:
            for fields in json.load(f)["records"]:
                published.append(WeightsRecord(**{"source": source, **fields}))
    return published


# Keyed by (model, tag, include_top); insertion order is listing order.
_RECORDS = {record.key: record for record in _load_published()}


def records(model=None):
    """Returns every record, or those of one model, in registration order."""
    return [r for r in _RECORDS.values() if model is None or r.model == model]


def published_records():
    """Returns the records shipped with the package (not run-time ones)."""
    return _load_published()


def find(model, tag, *, include_top):
    """Returns the record for ``(model, tag, include_top)``, or None."""
    return _RECORDS.get((model, tag, bool(include_top)))


def tags(model):
    """Returns the tags registered for ``model``, sorted."""
    return sorted({r.tag for r in records(model)})


#: keras.applications' default ``weights``; for a model without Keras's own
#: file it means the best published one (as torchvision's ``DEFAULT``).
DEFAULT_TAG = "imagenet"


def canonical_tag(model, tag):
    """The tag ``tag`` stands for: ``"imagenet"`` of a PyTorch-layout model is its best file.

    Keras's models have files tagged ``"imagenet"``. For the others (ResNet-B/
    C/D, wide, ResNeXt 32x4d ...), ``weights="imagenet"``, the builders'
    default, takes the registered file with the highest published top-1
    (``ResNet50B()``: torchvision's ``imagenet1k_v2``). Other tags are
    returned unchanged.
    """
    own = records(model)
    if tag != DEFAULT_TAG or not own or any(r.tag == DEFAULT_TAG for r in own):
        return tag
    return max(own, key=lambda r: r.top1 or 0.0).tag


def resolve(model, tag, *, include_top, classes=1000):
    """Chooses the file that serves ``weights=tag`` for a model being built.

    With the top and a classifier as wide as a registered file's, that file;
    otherwise (no top, or fine-tuning with another ``classes``) the file
    without the top, leaving the classifier freshly initialised. A PyTorch
    checkpoint has one file for both: its classifier is skipped on load.

    Args:
        model: The architecture's registry key.
        tag: The ``weights`` argument (``"imagenet"``: see ``canonical_tag``).
        include_top: Whether the model has its classifier.
        classes: Width of the model's classifier.

    Returns:
        ``(record, fresh_head)``: the file to load and whether the file's
        classifier is left out (the model's, if it has one, stays as
        initialised).

    Raises:
        ValueError: If no registered file serves this combination.
    """
    tag = canonical_tag(model, tag)
    known = tags(model)
    if tag not in known:
        raise ValueError(
            f"`weights` should be None, the path of an existing file, or a "
            f"registered tag for {model!r} (registered: {known or 'none'}; see "
            f"`keras-resnet weights list`). Received: weights={tag!r}"
        )
    top = find(model, tag, include_top=True)
    if include_top and top is not None and top.classes == classes:
        return top, False
    notop = find(model, tag, include_top=False)
    if notop is not None:
        return notop, bool(include_top)
    if top is not None and top.is_torch_checkpoint:
        # The file's classifier is skipped: none to fill, or another width.
        return top, True
    if include_top:
        raise ValueError(
            f"The {tag!r} weights of {model!r} have a {top.classes}-way classifier "
            f"and no file without the top, so a {classes}-way model cannot be "
            f"loaded from them. Received: classes={classes}"
        )
    raise ValueError(
        f"The {tag!r} weights of {model!r} are registered only with the top; "
        "build the model with include_top=True. Received: include_top=False"
    )


def add_record(
    model_name,
    tag,
    *,
    url,
    file_hash,
    include_top,
    hash_algorithm="sha256",
    file_name=None,
    size=None,
    num_params=None,
    classes=1000,
    preprocessing=None,
    top1=None,
    top5=None,
    accuracy_source=None,
    license=None,
    resolution=None,
    eval_transform=None,
    overwrite=False,
):
    """Adds a weight file's record, so that ``weights=tag`` finds it.

    ``keras_resnet.register_weights`` (``catalog.register_weights``) is the
    public entry: it checks ``model_name`` against the catalogue, then calls this.

    Args:
        model_name: The architecture's registry key (``"resnet50"``).
        tag: The name to pass as ``weights=``.
        url: Where the file is downloaded from (``http(s)://`` or ``file://``).
        file_hash: The hex digest of the file (``sha256sum FILE``), or at least
            its first 8 to 16 digits where that is all the publisher states
            (torch hub's ``name-<digits>.pth``).
        include_top: Whether the file holds the classifier.
        hash_algorithm: ``"sha256"`` (recommended) or ``"md5"``.
        file_name: The name in the cache; defaults to the URL's last part.
        size: The size in bytes; when given, checked after downloading.
        num_params: Parameters of the model the file is for.
        classes: Width of the classifier in the file (ignored without the top).
        preprocessing: ``"caffe"``, ``"tf"`` or ``"torch"``.
        top1, top5: Accuracies to show in ``keras-resnet weights list``.
        accuracy_source: Where those accuracies come from.
        license: The licence of the weights.
        resolution: The image side ``top1``/``top5`` were measured at.
        eval_transform: The evaluation transform the weights expect (see
            ``WeightsRecord.eval_transform``).
        overwrite: Replace an existing record for the same
            ``(model_name, tag, include_top)``.

    Returns:
        The new ``WeightsRecord``.

    Raises:
        ValueError: For a malformed name, hash or URL, or a record
            that exists already (without ``overwrite=True``).
    """
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(
            f"`model_name` should be a model's name. Received: model_name={model_name!r}"
        )
    if not isinstance(tag, str) or not tag or os.sep in tag:
        raise ValueError(
            f"`tag` should be a non-empty name without '{os.sep}'. Received: tag={tag!r}"
        )
    if hash_algorithm not in _HASH_LENGTHS:
        raise ValueError(
            "`hash_algorithm` should be 'sha256' or 'md5'. "
            f"Received: hash_algorithm={hash_algorithm!r}"
        )
    file_hash = str(file_hash).lower()
    full = _HASH_LENGTHS[hash_algorithm]
    # sha256 may be a publisher's prefix (torch hub's file names); md5 is whole.
    digits = [full] + (list(range(PREFIX_DIGITS[0], PREFIX_DIGITS[1] + 1)) if full == 64 else [])
    if not (re.fullmatch("[0-9a-f]+", file_hash) and len(file_hash) in digits):
        prefix = f", or its first {PREFIX_DIGITS[0]} to {PREFIX_DIGITS[1]}" if full == 64 else ""
        raise ValueError(
            f"`file_hash` should be {full} hex digits (a {hash_algorithm} digest{prefix}). "
            f"Received: file_hash={file_hash!r}"
        )
    parsed = urllib.parse.urlparse(str(url))
    if parsed.scheme not in ("http", "https", "file") or not parsed.path.strip("/"):
        raise ValueError(
            f"`url` should be an http(s):// or file:// URL of a file. Received: url={url!r}"
        )
    if file_name is None:
        file_name = os.path.basename(urllib.parse.unquote(parsed.path))
    if not file_name or os.path.basename(file_name) != file_name:
        raise ValueError(
            f"`file_name` should be a plain file name. Received: file_name={file_name!r}"
        )
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ValueError(f"`size` should be a positive number of bytes. Received: size={size!r}")
    record = WeightsRecord(
        model=model_name,
        tag=tag,
        include_top=bool(include_top),
        file_name=file_name,
        url=str(url),
        file_hash=file_hash,
        hash_algorithm=hash_algorithm,
        size=size,
        num_params=num_params,
        classes=classes if include_top else None,
        preprocessing=preprocessing,
        top1=top1,
        top5=top5,
        accuracy_source=accuracy_source,
        license=license,
        resolution=resolution,
        eval_transform=eval_transform,
    )
    if record.key in _RECORDS and not overwrite:
        raise ValueError(
            f"Weights {tag!r} for {model_name!r} (include_top={bool(include_top)}) "
            "are registered already; pass overwrite=True to replace them."
        )
    _RECORDS[record.key] = record
    return record


def unregister_weights(model_name, tag, *, include_top):
    """Removes a record (used by tests and by ``overwrite`` workflows)."""
    _RECORDS.pop((model_name, tag, bool(include_top)), None)
