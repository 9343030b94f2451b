"""Image folders: one sub-folder of JPEG/PNG files per class, checked before training."""

import concurrent.futures
import dataclasses
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass
class ImageFolder:
    """Files of a class-per-sub-folder dataset.

    Attributes:
        paths: Image paths, sorted by class then file name.
        labels: Integer label of each path.
        class_names: Sub-folder names, sorted; label ``i`` is ``class_names[i]``.
        skipped: ``(path, reason)`` of each file left out as unreadable.
    """

    paths: list
    labels: np.ndarray
    class_names: list
    skipped: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.paths)


def find_images(directory, *, class_names=None):
    """Lists the images of a class-per-sub-folder dataset.

    Args:
        directory: A folder with one sub-folder of JPEG/PNG files per class.
        class_names: Expected classes, in label order (e.g. the training
            set's, when listing a validation folder). Defaults to the sorted
            sub-folder names.

    Returns:
        An ``ImageFolder`` (nothing verified yet, ``skipped`` empty).

    Raises:
        ValueError: If the folder does not exist, has no class sub-folders,
            has a class sub-folder without images, or lacks an expected class.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"Data folder not found. Received: data={directory!r}")
    found = sorted(
        entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith(".")
    )
    if not found:
        raise ValueError(
            "Data folder has no class sub-folders (expected one folder of images "
            f"per class). Received: data={directory!r}"
        )
    if class_names is None:
        class_names = found
    missing = sorted(set(class_names) - set(found))
    if missing:
        raise ValueError(
            f"Data folder lacks class folder(s) {missing}. Received: data={directory!r}"
        )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(directory, name)
        files = sorted(
            f for f in os.listdir(folder)
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        )
        if not files:
            raise ValueError(
                f"Class folder {name!r} has no JPEG or PNG images. "
                f"Received: data={directory!r}"
            )
        paths.extend(os.path.join(folder, f) for f in files)
        labels.extend([label] * len(files))
    return ImageFolder(paths, np.asarray(labels, dtype=np.int32), list(class_names))


def check_image(path):
    """Returns None if ``path`` decodes fully as an RGB-convertible image, else the reason."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format not in ("JPEG", "PNG", "MPO"):
                return f"not a JPEG or PNG file ({image.format})"
            image.load()  # a full decode: truncated files fail here
    except Exception as e:  # PIL raises many types for broken files
        return f"{type(e).__name__}: {e}"
    return None


def verify_images(folder, *, workers=None):
    """Decodes every file once and drops the unreadable ones, reporting each by path.

    A file that would crash (or, worse, be silently replaced) in the middle
    of an epoch is found here, before training, instead.

    Args:
        folder: An ``ImageFolder``.
        workers: Threads decoding in parallel (PIL releases the GIL).

    Returns:
        A new ``ImageFolder`` without the bad files; they are listed in
        ``skipped`` and logged as warnings.
    """
    workers = workers or min(16, (os.cpu_count() or 1) * 2)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        reasons = list(pool.map(check_image, folder.paths))
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    skipped = [(p, r) for p, r in zip(folder.paths, reasons) if r is not None]
    for path, reason in skipped:
        logger.warning("skipping unreadable image %s (%s)", path, reason)
    return ImageFolder(
        [folder.paths[i] for i in keep],
        folder.labels[keep],
        folder.class_names,
        folder.skipped + skipped,
    )


def image_folder(directory, *, class_names=None, verify=True):
    """``find_images`` then, unless ``verify=False``, ``verify_images``."""
    folder = find_images(directory, class_names=class_names)
    return verify_images(folder) if verify else folder
