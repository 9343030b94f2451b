"""Every family that builds a model, from layers up to factories.

Modules, lowest first:
    layers: ``StochasticDepth`` and ``ZeroPadShortcut`` (option-A shortcuts).
    residual: what every block shares (BatchNorm settings, shortcut options,
        the merge with stochastic depth).
    branch: the pieces of a post-activation block (conv-BN-ReLU, shortcut,
        the close after the last BN) and the stage that repeats a block.
    basic: the paper's two-convolution block (ResNet-18/34, CIFAR nets).
    blocks: keras.applications' ``block1/2/3`` with the stacks that repeat
        them (and the basic block, re-exported).
    stems: the PyTorch layouts' stems (torchvision's 7x7, timm's deep 3x3).
    table: the ImageNet depth table, one ``Architecture`` row per name:
        Keras's, torchvision's and timm's (ResNet-B/C/D, wide, ResNeXt).
    common: what every factory shares (keras.applications' arguments, input
        shape, argument checks, head, the classifier skeleton, the builders).
    family: the contract of a family (``Row``, ``Family``) and the list of
        family modules (``MODULES``) that the catalogue, the feature
        backbones and the package's exports read.
    resnet: the ImageNet family: ``ResNet(stack_fn, preact, use_bias, ...)``,
        ``from_table``, ``ResNet50`` ... ``ResNet50D`` ...
    features: feature backbones, ``C2`` .. ``C5`` of any table row (output
        stride 32, 16 or 8 by dilation) or ImageNet DenseNet
        (``feature_backbone``).
    units: the residual units of He et al. 2016, Figure 4 (``unit=`` of the
        CIFAR networks), and the pre-activation bottleneck stage.
    cifar: the paper's CIFAR networks and the demo's small network.
    densenet: DenseNet's table (ImageNet's 121/169/201/161, CIFAR's
        DenseNet and DenseNet-BC): one dense block, one transition.

Names are looked up in ``keras_resnet.catalog``, above this layer.
"""

from keras_resnet import _startup

# Every model is built from here: a missing backend is one line naming the extra.
_startup.import_keras()
