"""The ``keras-resnet`` command line: ``main`` and one module per subcommand.

Modules:
    main: the parser and the entry point (``keras-resnet = keras_resnet.cli:main``).
    errors: ``UsageError``, the one-line error every subcommand raises.
    commands: ``train``, ``evaluate``, ``predict``, ``summary``, ``models``,
        ``weights``, ``bench``.
"""

from keras_resnet.cli.errors import UsageError
from keras_resnet.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]
