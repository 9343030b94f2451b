"""A warning when the unrelated 2019 ``keras-resnet`` distribution shares our folder.

This package is distributed as ``keras3-resnet`` and imported as
``keras_resnet``. An older, unrelated project (``keras-resnet`` on the public
index, 0.2.0, 2019) installs a top-level ``keras_resnet`` too; with both in
one environment, whichever was installed last overwrote the other's files,
and what is left is a mix. The check reads installed metadata only (a few
milliseconds) and warns once.
"""

import importlib.metadata
import warnings

#: Our distribution name on the package index.
DISTRIBUTION = "keras3-resnet"
#: The unrelated distribution that installs the same import name.
CONFLICTING = "keras-resnet"


def _is_2019_project(meta):
    home_page = meta.get("Home-page") or ""
    return "broadinstitute" in home_page or meta.get("Author") == "Allen Goodman"


def conflict_message():
    """What is wrong with the environment, in one message, or None if nothing is."""
    try:
        meta = importlib.metadata.metadata(CONFLICTING)
    except importlib.metadata.PackageNotFoundError:
        return None
    version = meta.get("Version")
    if _is_2019_project(meta):
        what = f"The unrelated package '{CONFLICTING}' {version} (2019) is installed"
        fix = (
            f"`pip uninstall -y {CONFLICTING} {DISTRIBUTION}`, then reinstall {DISTRIBUTION} "
            "(`pip install -e .` in its folder)"
        )
    else:
        # Version 0.1 of this package was distributed under that name; its
        # flat modules would shadow the folders of this one.
        what = f"An earlier install of this package ('{CONFLICTING}' {version}) is present"
        fix = f"`pip uninstall -y {CONFLICTING}`, then reinstall {DISTRIBUTION}"
    return (
        f"{what} in this environment and writes to the same 'keras_resnet' folder as "
        f"'{DISTRIBUTION}', so files of both may be mixed. Run {fix}."
    )


def warn_if_shadowed():
    """Warns once if another distribution installs files into this package's folder."""
    message = conflict_message()
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
