"""The layers of a model that own weights, the unit every weights file is matched by."""


def weighted_layers(model):
    """Layers that own weights, in model order, looking inside nested models."""
    import keras

    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(weighted_layers(layer))
        elif layer.weights:
            layers.append(layer)
    return layers
