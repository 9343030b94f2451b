"""The command line's errors: said in one line, never as a traceback."""


class UsageError(Exception):
    """A bad argument: reported as one line on stderr, exit status 2."""


def model_entry(name):
    """The catalogue entry of ``name``, or a ``UsageError`` listing the known models."""
    from keras_resnet import catalog

    try:
        return catalog.get(name)
    except ValueError:
        known = ", ".join(catalog.list_models(None, include_plain=True))
        raise UsageError(f"unknown model {name!r}; known: {known}") from None


def expected_errors():
    """The exception types that mean bad input or an unreachable server, not a bug.

    Imported on demand: ``keras-resnet --help`` must not load the weights code.
    """
    from keras_resnet import weights

    return (
        weights.WeightsDownloadError,
        weights.WeightsIntegrityError,
        weights.WeightsFileError,
        weights.WeightsMismatchError,
    )


def one_line(error):
    """The first line of an error's message (the rest is detail for --debug)."""
    # The weights code has the same rule; imported here, not at the top, so
    # that `keras-resnet --help` does not load it.
    from keras_resnet.weights.errors import first_line

    return first_line(error)
