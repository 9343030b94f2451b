"""Analysis of trained networks: the lesion study, the ensemble view, parameter and multiply-add counts.

Modules:
    lesion: delete one block, or several, at test time (Veit et al. 2016).
    paths: the paths of a residual network (Veit et al. 2016): path-length
        counts, gradient magnitude by path length.
    ensemble: residual networks as ensembles of paths (Veit et al. 2016):
        error with k blocks deleted or k pairs swapped.
    complexity: parameters and multiply-adds of any Keras model.
"""

from keras_resnet.analysis.complexity import count_params, multiply_adds
from keras_resnet.analysis.ensemble import (
    ErrorCurve,
    deletion_curve,
    plot_error_curves,
    reorder_curve,
    swap_blocks,
    swappable_groups,
)
from keras_resnet.analysis.lesion import (
    LesionResult,
    block_names,
    delete_block,
    delete_blocks,
    lesion,
    plot_lesion,
)
from keras_resnet.analysis.paths import (
    PathGradients,
    gradient_by_path_length,
    path_gradient,
    path_length_counts,
    plot_paths,
    residual_blocks,
)

__all__ = [
    "ErrorCurve",
    "LesionResult",
    "PathGradients",
    "block_names",
    "count_params",
    "delete_block",
    "delete_blocks",
    "deletion_curve",
    "gradient_by_path_length",
    "lesion",
    "multiply_adds",
    "path_gradient",
    "path_length_counts",
    "plot_error_curves",
    "plot_lesion",
    "plot_paths",
    "reorder_curve",
    "residual_blocks",
    "swap_blocks",
    "swappable_groups",
]
