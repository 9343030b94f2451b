"""Analysis of trained networks: the lesion study, parameter and multiply-add counts.

Modules:
    lesion: delete one block at test time (Veit et al. 2016).
    complexity: parameters and multiply-adds of any Keras model.
"""

from keras_resnet.analysis.complexity import count_params, multiply_adds
from keras_resnet.analysis.lesion import (
    LesionResult,
    block_names,
    delete_block,
    lesion,
    plot_lesion,
)

__all__ = [
    "LesionResult",
    "block_names",
    "count_params",
    "delete_block",
    "lesion",
    "multiply_adds",
    "plot_lesion",
]
