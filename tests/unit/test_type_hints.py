"""Every public function and method carries type hints (the team guide), read from the source."""

import ast
from pathlib import Path

import image_classifier

PACKAGE = Path(image_classifier.__file__).resolve().parent  # the sources, installed or not (the image has no src/)


def unannotated(source, name="<source>"):
    """'name:line function' for each public function or method of ``source`` that lacks a parameter or return hint.

    ``self``/``cls`` need none, ``__init__`` no return hint; private ``_names`` and nested functions are skipped.
    """
    found = []

    def visit(body, prefix, in_class):
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name.startswith("_") and node.name != "__init__":
                    continue
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if in_class and arguments and arguments[0].arg in ("self", "cls"):
                    arguments = arguments[1:]
                arguments += [star for star in (node.args.vararg, node.args.kwarg) if star is not None]
                bare = [argument.arg for argument in arguments if argument.annotation is None]
                if bare or (node.returns is None and node.name != "__init__"):
                    found.append(f"{name}:{node.lineno} {prefix}{node.name} (unannotated: {bare or 'return'})")

    visit(ast.parse(source).body, "", False)
    return found


def test_every_public_function_has_type_hints():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        missing += unannotated(path.read_text(), str(path.relative_to(PACKAGE)))
    print("\n".join(missing))
    assert not missing, "\n".join(missing)


def test_the_scan_sees_what_lacks_hints():
    source = (
        "def bare(a, b: int) -> None: ...\n"
        "def no_return(a: int): ...\n"
        "def keywords(**options) -> None: ...\n"
        "def _private(a): ...\n"
        "def outer() -> None:\n    def nested(a): ...\n"
        "class Thing:\n"
        "    def __init__(self, a: int): ...\n"
        "    @classmethod\n    def make(cls, a) -> 'Thing': ...\n"
        "    def _helper(self, a): ...\n"
        "class _Hidden:\n    def run(self, a): ...\n"
    )
    assert [line.split(" (")[0] for line in unannotated(source, "m.py")] == [
        "m.py:1 bare",
        "m.py:2 no_return",
        "m.py:3 keywords",
        "m.py:10 Thing.make",
    ]
