"""Subcommands of ``keras-resnet``: one module each, see ``keras_resnet.cli``."""
