"""``.keras`` archives: their weights unpacked in memory, their declared sizes checked first.

A few megabytes of zip must not become gigabytes of memory: the central
directory's sizes are checked against ``MAX_ARCHIVE_BYTES`` and
``MAX_EXPANSION`` before anything is inflated, and the weights member is
copied in chunks, never past its declared size.
"""

import io
import shutil
import zipfile
import zlib

from keras_resnet.weights.errors import WeightsFileError, first_line

ZIP_SIGNATURE = b"PK"
_ARCHIVE_WEIGHTS = "model.weights.h5"

#: The most a ``.keras`` archive may unpack to, in bytes, all members together.
#: The largest ResNet's weights (ResNet152) are 240 MB.
MAX_ARCHIVE_BYTES = 2 << 30
#: How many times its stored size a member may unpack to, once it is larger
#: than ``_EXPANSION_FLOOR``. Keras stores members uncompressed (1x) and
#: deflate cannot pass ~1030x, so 100x leaves room for a recompressed archive
#: and still stops a bomb (Keras's own loader uses the same ratio).
MAX_EXPANSION = 100
# Small members (config.json) may compress well; they cannot exhaust memory.
_EXPANSION_FLOOR = 64 << 20
_COPY_CHUNK = 1 << 20
# What zipfile raises for a damaged archive: a bad header or CRC, a cut
# stream, bad deflate data, an encrypted or unknown compression method.
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, RuntimeError, NotImplementedError)



def unpack_weights(path):
    """Returns the archive's ``model.weights.h5`` in memory, its sizes checked first."""
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as e:
        raise _corrupt_archive(path, e) from None
    with archive:
        _check_archive_sizes(archive, path)
        if _ARCHIVE_WEIGHTS not in archive.namelist():
            raise WeightsFileError(
                f"{path} is a zip archive without {_ARCHIVE_WEIGHTS}: not a .keras file."
            )
        data = io.BytesIO()
        try:
            # In chunks: zipfile stops at the declared size, and one chunk is
            # the most it inflates at a time, whatever the stream really holds.
            with archive.open(_ARCHIVE_WEIGHTS) as member:
                shutil.copyfileobj(member, data, _COPY_CHUNK)
        except _ZIP_ERRORS as e:
            raise _corrupt_archive(path, e) from None
    data.seek(0)
    return data


def _corrupt_archive(path, error):
    return WeightsFileError(
        f"{path} is a truncated or corrupt .keras archive ({first_line(error)}). "
        "Download or save it again."
    )


def _check_archive_sizes(archive, path):
    """Refuses an archive whose declared sizes could exhaust memory (a zip bomb).

    Uses only the central directory, so nothing is inflated before the check.
    """
    members = archive.infolist()
    total = sum(info.file_size for info in members)
    if total > MAX_ARCHIVE_BYTES:
        stored = sum(info.compress_size for info in members)
        raise WeightsFileError(
            f"{path} unpacks to {total} bytes ({stored} bytes stored, {len(members)} "
            f"members), more than the {MAX_ARCHIVE_BYTES} bytes a .keras file may "
            "hold here. If you trust it, unzip it and load its model.weights.h5."
        )
    for info in members:
        if info.file_size > _EXPANSION_FLOOR and (
            info.file_size > MAX_EXPANSION * info.compress_size
        ):
            raise WeightsFileError(
                f"{path} looks like a zip bomb: its member {info.filename} unpacks to "
                f"{info.file_size} bytes from {info.compress_size} bytes stored (more "
                f"than {MAX_EXPANSION}x; Keras stores members uncompressed). Refused "
                "before unpacking."
            )
