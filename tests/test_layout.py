"""The package's architecture: imports run one way, modules stay small, one catalogue.

The layers, lowest first; a module may import its own layer and the layers
below it, never one above (``keras_resnet/__init__.py``, the lazy facade, and
the deprecation aliases, which import by string, are outside the order).
"""

import ast
import pathlib
import warnings

import pytest

import keras_resnet
from keras_resnet import catalog

PACKAGE = pathlib.Path(keras_resnet.__file__).parent

LAYERS = [
    {"_conflicts", "_deprecated", "_files", "_startup", "internals", "preprocessing"},
    {"weights"},
    {"architectures"},
    {"catalog"},
    {"data", "deploy", "analysis"},
    {"training"},
    {"bench"},
    {"cli", "__main__"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}

# "A few hundred lines" (the style guide): about 400. The largest are
# training/run_dir.py (446) and data/prepare.py (444).
MAX_LINES = 450


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path, module):
    """Every keras_resnet module ``path`` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "keras_resnet" or name.startswith("keras_resnet."):
                yield name


def _resolve(name, known):
    """The longest known module a dotted import name refers to."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def test_every_part_has_a_layer():
    parts = {_part(module) for _, module in _modules()} - {"__init__"}
    assert parts <= set(RANK), f"parts without a layer: {sorted(parts - set(RANK))}"


def test_imports_run_one_way():
    known = {module.removesuffix(".__init__") for _, module in _modules()}
    upward = []
    for path, module in _modules():
        if module == "keras_resnet.__init__":
            continue
        rank = RANK[_part(module)]
        for name in _imports(path, module):
            target = _resolve(name, known)
            if target == "keras_resnet":
                continue  # ``import keras_resnet`` of a public name, from the top layers only
            if RANK[_part(target)] > rank:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_import_graph_has_no_cycle():
    known = {module.removesuffix(".__init__") for _, module in _modules()}
    graph = {}
    for path, module in _modules():
        name = module.removesuffix(".__init__")
        if name == "keras_resnet":
            continue
        graph[name] = {
            target
            for target in (_resolve(i, known) for i in _imports(path, module))
            if target != name and target != "keras_resnet"
            # A package's __init__ re-exporting its own modules is not a cycle of modules.
            and not target.startswith(name + ".")
        }
    visiting, done, cycles = set(), set(), []

    def visit(node, trail):
        if node in done:
            return
        if node in visiting:
            cycles.append(trail[trail.index(node):] + [node])
            return
        visiting.add(node)
        for target in sorted(graph.get(node, ())):
            visit(target, trail + [node])
        visiting.discard(node)
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_modules_stay_small():
    big = {
        module: n
        for path, module in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_every_folder_says_what_it_is_for():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init} has no docstring"


@pytest.mark.parametrize("name", catalog.list_models(None, include_plain=True))
def test_every_name_is_found_in_the_catalogue(name):
    entry = catalog.get(name)
    assert entry.name == name and entry.family in catalog.FAMILIES
    assert catalog.get(name.upper()) is entry
    assert catalog.get(name.replace("resnet", "ResNet-")) is entry


def test_names_are_not_looked_up_outside_the_catalogue():
    # The families' tables are read by key only in the catalogue and the
    # families themselves; nothing above them indexes a table by a user's name.
    offenders = []
    for path, module in _modules():
        if _part(module) in {"architectures", "catalog"}:
            continue
        text = path.read_text()
        for table in ("ARCHITECTURES[", "CIFAR_ARCHITECTURES["):
            if table in text:
                offenders.append(f"{module}: {table}")
    assert not offenders, offenders


def test_installed_package_data_is_declared():
    # The registry and the class index ship inside the package (setup.py's
    # package_data); nothing at run time reads the source checkout.
    assert (PACKAGE / "weights" / "registry.json").is_file()
    assert (PACKAGE / "imagenet_class_index.json").is_file()


def test_public_api_resolves_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in keras_resnet.__all__:
            assert getattr(keras_resnet, name) is not None
        for name in ("architectures", "catalog", "data", "deploy", "training", "analysis"):
            assert getattr(keras_resnet, name).__doc__
