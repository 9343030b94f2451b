"""The two ways a weight file can fail, each said in one line."""


class WeightsFileError(ValueError):
    """The file cannot be read: not HDF5 or a Keras archive, truncated, corrupt."""


class WeightsMismatchError(ValueError):
    """The file's weights do not fit the model (another architecture)."""


def first_line(error):
    """The first line of an exception's message (h5py and zipfile write several)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def truncated_file(path, what, detail):
    """The error for a ``what`` file at ``path`` that ends early or is damaged."""
    return WeightsFileError(
        f"{path} is a truncated or corrupt {what} file ({detail}). Download or save it again."
    )
