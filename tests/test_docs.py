"""The README's and docs/' quick commands, run as printed; their links resolve.

The convention the pages follow: every ```python block and every `keras-resnet` line of a
```bash block in README.md and docs/*.md runs, unless the line just before the block is
``<!-- not run: REASON -->``. Bash lines that are not `keras-resnet` commands (`make`, `pip`,
`export`) are shown, not run. Blocks that do not run are still checked: their Python compiles
and every name it imports or reaches through an imported module exists; every `keras-resnet`
line of every page parses with the command line's own parser.

Commands run in a temporary folder holding what the README's commands name (`photos/`, `big/`,
`photo.jpg`, `resnet18.pth`), made here from scikit-learn's two sample photographs, with
downloads made impossible (the weights mirror points at a closed port on 127.0.0.1, the Keras
cache is empty) so that nothing reaches the internet. For speed, `--epochs 1` is appended to a
`train` command that names no `--epochs`: the command as printed trains longer, with the same
code path.
"""

import ast
import importlib
import importlib.util
import os
import re
import shlex
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
    if name.endswith(".md")
)
# Pages whose links are checked but whose commands are not run.
LINKED_ONLY = [os.path.join("weights", "README.md")]
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->")


def _read(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def _blocks(page):
    """``(line number, language, code, reason not run or None)`` for each fenced block."""
    lines = _read(page).split("\n")
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = lines.index("```", i + 1)
        marker = NOT_RUN.search(lines[i - 1]) if i else None
        blocks.append((i + 1, fence.group(1), "\n".join(lines[i + 1:end]),
                       marker.group(1) if marker else None))
        i = end + 1
    return blocks


def _commands(code):
    """The `keras-resnet` lines of a shell block, as argument lists (comments dropped)."""
    return [
        shlex.split(line, comments=True) for line in code.split("\n")
        if line.startswith("keras-resnet ")
    ]


def _block_id(page, line):
    return f"{page}:{line}"


PYTHON_BLOCKS = [
    pytest.param(page, code, id=_block_id(page, line))
    for page in PAGES for line, lang, code, reason in _blocks(page)
    if lang == "python" and reason is None
]
UNRUN_PYTHON_BLOCKS = [
    pytest.param(page, code, id=_block_id(page, line))
    for page in PAGES + LINKED_ONLY for line, lang, code, reason in _blocks(page)
    if lang == "python" and reason is not None
]
SHELL_BLOCKS = [
    pytest.param(page, code, id=_block_id(page, line))
    for page in PAGES for line, lang, code, reason in _blocks(page)
    if lang in ("bash", "sh", "shell") and reason is None and _commands(code)
]


# ---------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------


def _prose(text):
    """``text`` without fenced blocks and inline code, where a bracket is not a link."""
    text = re.sub(r"^```.*?^```\s*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(text):
    """GitHub's anchors of the headings of ``text``."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.*?)\s*$", _prose(text), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", PAGES + LINKED_ONLY)
def test_relative_links_resolve_to_files_and_headings(page):
    text = _read(page)
    links = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", _prose(text))
    assert links, f"{page} has no links: is the pattern right?"
    folder = os.path.dirname(os.path.join(ROOT, page))
    broken = []
    for link in links:
        if re.match(r"^[a-z]+:", link):  # http(s):, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = os.path.normpath(os.path.join(folder, path)) if path else os.path.join(ROOT, page)
        if not os.path.exists(target):
            broken.append(f"{link} (no file {os.path.relpath(target, ROOT)})")
        elif anchor and anchor not in _anchors(open(target, encoding="utf-8").read()):
            broken.append(f"{link} (no heading #{anchor})")
    assert not broken, f"{page}: " + "; ".join(broken)


def test_the_anchor_rule_is_githubs():
    # Hand-written slugs of headings the pages link to.
    assert _anchors("## The input pipeline\n## Today's ResNets, in PyTorch's layout\n") == {
        "the-input-pipeline", "todays-resnets-in-pytorchs-layout",
    }


def test_the_readme_is_a_newcomers_page():
    lines = _read("README.md").split("\n")
    assert len(lines) <= 250
    first_train = next(i for i, line in enumerate(lines, 1) if "keras-resnet train --data" in line)
    assert first_train <= 120
    # The index name is not published yet: the README must not send people to it.
    assert "pip install keras3-resnet" not in "\n".join(lines)
    assert sum("<!-- timings -->" in line for line in lines) == 1


def test_every_page_is_in_the_table_of_contents():
    toc = _read(os.path.join("docs", "README.md"))
    readme = _read("README.md")
    for page in PAGES:
        if page.startswith("docs") and not page.endswith("README.md"):
            name = os.path.basename(page)
            assert f"]({name})" in toc, f"docs/README.md does not link {name}"
            assert f"](docs/{name})" in readme, f"README.md does not link docs/{name}"


def test_not_run_markers_stand_before_a_block_and_give_a_reason():
    for page in PAGES:
        lines = _read(page).split("\n")
        for i, line in enumerate(lines):
            if "not run" in line and line.lstrip().startswith("<!--"):
                marker = NOT_RUN.search(line)
                assert marker and marker.group(1), f"{page}:{i + 1}: no reason given"
                assert lines[i + 1].startswith("```"), f"{page}:{i + 1}: no block follows"


# ---------------------------------------------------------------------------
# Commands that are not run: they must still name what exists
# ---------------------------------------------------------------------------


def test_every_keras_resnet_line_parses():
    from keras_resnet.cli.main import build_parser

    parser = build_parser()
    lines = [
        (page, args) for page in PAGES + LINKED_ONLY
        for _, lang, code, _ in _blocks(page) if lang in ("bash", "sh", "shell")
        for args in _commands(code)
    ]
    assert len(lines) >= 10
    for page, args in lines:
        try:
            parser.parse_args(args[1:])
        except SystemExit:
            pytest.fail(f"{page}: `{shlex.join(args)}` does not parse")


def _resolve(module_names, dotted):
    """The object ``dotted`` names (``keras_resnet.catalog.build``), imports followed."""
    head, *rest = dotted.split(".")
    obj = importlib.import_module(module_names[head]) if module_names[head] else None
    for part in rest:
        if not hasattr(obj, part):
            # A submodule is an attribute only once imported.
            obj = importlib.import_module(f"{obj.__name__}.{part}")
        else:
            obj = getattr(obj, part)
    return obj


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


@pytest.mark.parametrize("page, code", UNRUN_PYTHON_BLOCKS)
def test_python_that_is_not_run_names_what_exists(page, code):
    tree = ast.parse(code, filename=page)
    modules = {}  # local name -> module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
                modules[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                try:
                    value = _resolve({"m": node.module}, f"m.{alias.name}")
                except (AttributeError, ImportError):
                    pytest.fail(f"{page}: {node.module} has no {alias.name}")
                if type(value).__name__ == "module":
                    modules[alias.asname or alias.name] = value.__name__
    # Every chain rooted at an imported module resolves (`keras_resnet.ResNet50B`, ...).
    chains = {
        _dotted(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
    }
    for chain in sorted(c for c in chains if c and c.split(".")[0] in modules):
        try:
            _resolve(modules, chain)
        except (AttributeError, ImportError):
            pytest.fail(f"{page}: {chain} does not exist")


# ---------------------------------------------------------------------------
# Commands that run
# ---------------------------------------------------------------------------


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _offline_env(folder):
    """The environment of a machine that cannot download: a dead mirror, an empty cache."""
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_HOME=str(folder / "keras_home"))
    env["KERAS_RESNET_WEIGHTS_URL"] = f"http://127.0.0.1:{_closed_port()}/"
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env.pop("TF_CONFIG", None)
    return env


def _crops(count, rng):
    """``count`` 96-pixel crops of each of scikit-learn's two photographs (two classes)."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    for name, image in zip(("china", "flower"), photos.images):
        height, width, _ = image.shape
        for _ in range(count):
            y, x = rng.integers(0, height - 96), rng.integers(0, width - 96)
            yield name, image[y:y + 96, x:x + 96]


def _image_folder(root, count, rng):
    from PIL import Image

    for i, (name, crop) in enumerate(_crops(count, rng)):
        os.makedirs(root / name, exist_ok=True)
        Image.fromarray(crop).save(root / name / f"{i}.jpg")


def _workspace(folder, code):
    """Makes what ``code``'s commands name: the README's folders, photo and checkpoint."""
    rng = np.random.default_rng(0)
    _image_folder(folder / "photos", 20, rng)
    _image_folder(folder / "big" / "train", 16, rng)
    _image_folder(folder / "big" / "val", 4, rng)
    from PIL import Image

    Image.fromarray(next(_crops(1, rng))[1]).save(folder / "photo.jpg")
    if "resnet18.pth" in code:
        # A checkpoint as torchvision writes it (random weights, its 1000-way classifier),
        # written in its own process: torch and TensorFlow in one process can crash.
        if importlib.util.find_spec("torchvision") is None:
            pytest.skip("writing a .pth checkpoint needs torchvision")
        subprocess.run(
            [sys.executable, "-c", "import sys, torch, torchvision; "
             "torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])",
             str(folder / "resnet18.pth")],
            check=True, capture_output=True, timeout=300,
        )


@pytest.mark.slow
@pytest.mark.parametrize("page, code", SHELL_BLOCKS)
def test_shell_block_runs_as_printed(page, code, tmp_path):
    _workspace(tmp_path, code)
    env = _offline_env(tmp_path)
    for args in _commands(code):
        if args[1] == "train" and "--epochs" not in args:
            args = args + ["--epochs", "1"]  # for speed; see the module docstring
        proc = subprocess.run(
            [sys.executable, "-m", "keras_resnet", *args[1:]],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
        )
        assert proc.returncode == 0, (
            f"{page}: `{shlex.join(args)}` exited {proc.returncode}:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    # Nothing was downloaded: the cache the commands used is still empty.
    cache = tmp_path / "keras_home" / "models"
    assert not cache.exists() or not os.listdir(cache)


@pytest.mark.slow
@pytest.mark.parametrize("page, code", PYTHON_BLOCKS)
def test_python_block_runs_as_printed(page, code, tmp_path):
    _workspace(tmp_path, code)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=_offline_env(tmp_path), cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, f"{page}:\n{code}\n{proc.stderr[-3000:]}"


def test_the_readme_has_blocks_that_run():
    # The convention runs blocks by default: if the parsing broke, nothing would run.
    readme = [p for p in PYTHON_BLOCKS + SHELL_BLOCKS if p.values[0] == "README.md"]
    assert len(readme) >= 5
