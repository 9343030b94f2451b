"""A functional model's graph, read from its config.

``Model.get_config()`` describes every layer call as the ``keras_history``
(producing layer, node, tensor) of its inputs: the description ``.keras``
files store, so it is public and stable. The folding pass and the training
code read the graph here rather than through Keras's private node objects.
"""

import dataclasses

import keras


@dataclasses.dataclass
class Graph:
    """Who feeds whom in a functional model.

    Attributes:
        calls: ``{layer name: [inputs of each call]}``, each input a
            ``(layer name, node index, tensor index)`` triple.
        outputs: The model's outputs as such triples.
    """

    calls: dict
    outputs: list

    def consumers(self, tensor):
        """How many layer calls (and model outputs) read ``tensor``."""
        count = sum(inputs.count(tensor) for nodes in self.calls.values() for inputs in nodes)
        return count + self.outputs.count(tensor)

    def output_layers(self):
        """Names of the layers that produce the model's outputs."""
        return {name for name, _, _ in self.outputs}


def read_graph(model):
    """Returns the ``Graph`` of a functional model.

    Raises:
        ValueError: If ``model`` is not a functional ``keras.Model``.
    """
    config = None
    if isinstance(model, keras.Model) and not isinstance(model, keras.Sequential):
        try:
            config = model.get_config()
        except NotImplementedError:
            config = None
    if not isinstance(config, dict) or "output_layers" not in config:
        raise ValueError(
            "`model` should be a functional keras.Model. "
            f"Received: model={type(model).__name__}"
        )
    calls = {
        layer["name"]: [list(_tensors(node)) for node in layer["inbound_nodes"]]
        for layer in config["layers"]
    }
    return Graph(calls=calls, outputs=list(_triples(config["output_layers"])))


def _tensors(obj):
    """The ``keras_history`` triples of every tensor inside a serialized call."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            yield tuple(obj["config"]["keras_history"])
            return
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)


def _triples(outputs):
    """``output_layers`` as a list of triples (a single output may come unnested)."""
    if len(outputs) == 3 and isinstance(outputs[0], str):
        return [tuple(outputs)]
    return [tuple(t) for t in outputs]
