"""The command line's one error type: a bad argument, said in one line."""


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
