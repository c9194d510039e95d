"""The packages' layers, read from the import statements (CONTRIBUTING.md's Layers section draws them)."""

import ast
from pathlib import Path

import image_classifier

PACKAGE = Path(image_classifier.__file__).resolve().parent  # the sources, installed or not (the image has no src/)
# What each package may import of our other packages; every package may import the top-level modules.
ALLOWED = {
    "data": set(),
    "model": set(),
    "reports": {"model"},
    "training": {"data", "model", "reports"},
    "serving": {"model"},
    "aws": set(),
}
COMMANDS = {"cli", "demo_data", "quantize_command"}  # the commands, above everything: they may import any package
PACKAGES = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}


def imported(path, package=PACKAGE):
    """The parts of image_classifier that ``path`` imports, by their first name under it (package or module)."""
    module = path.relative_to(package.parent).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(module[: len(module) - node.level]) if node.level else []
            within = base + (node.module.split(".") if node.module else [])
            targets = [within + [alias.name] for alias in node.names]
        else:
            continue
        found.update(target[1] for target in targets if target[0] == "image_classifier" and len(target) > 1)
    return found


def owner(path):
    """The package ``path`` belongs to, or its module name for a top-level module."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_every_package_is_in_the_table():
    assert PACKAGES == set(ALLOWED)


def test_imports_follow_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = owner(path)
        if source in COMMANDS:
            continue
        allowed = ALLOWED.get(source, set()) | {source}  # a top-level module may import no package
        wrong += [f"{path.relative_to(PACKAGE)} imports {name}" for name in imported(path) & PACKAGES - allowed]
    assert not wrong


def test_the_scan_sees_relative_and_absolute_imports(tmp_path):
    package = tmp_path / "image_classifier"
    (package / "serving").mkdir(parents=True)
    sample = package / "serving" / "sample.py"
    sample.write_text(
        "from ..training import job\nfrom .. import data\nimport image_classifier.aws.s3\nfrom . import codecs\n"
    )
    assert imported(sample, package) == {"training", "data", "aws", "serving"}
