"""Every relative link and `#anchor` in README.md, CONTRIBUTING.md and docs/*.md resolves.

Anchors follow GitHub's slugs for headings: the heading's rendered text in lower case, every character that
is not a letter, digit, space, hyphen or underscore dropped, spaces turned into hyphens, and a repeated slug
numbered `-1`, `-2`, ... in order.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
# The documents link into the whole repository; the in-image suite (tests/image) copies only tests/, README.md
# and docs/, so there the links are the repository's question, answered by the virtualenv run of CI.
pytestmark = pytest.mark.skipif(
    not (ROOT / "CONTRIBUTING.md").is_file(), reason="not a repository checkout (the in-image copy of the tests)"
)

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+).+?\1", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose(markdown: str) -> str:
    """The text outside fenced code blocks (where a `#` or `[x](y)` is code, not markdown)."""
    return FENCE.sub("", markdown)


def rendered(heading: str) -> str:
    """A heading's text as GitHub renders it: links by their text, code and emphasis by their content."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading, before numbering repeats."""
    return re.sub(r"[^\w\- ]", "", rendered(heading).strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor GitHub gives the page's headings, repeats numbered."""
    seen: dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(prose(markdown)):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(markdown: str) -> list[str]:
    """The targets of the page's inline links, images and reference definitions, outside code."""
    text = INLINE_CODE.sub("", prose(markdown))
    return [match.group(1) for pattern in (INLINE_LINK, REFERENCE_DEFINITION) for match in pattern.finditer(text)]


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The page's relative links whose file, or whose `#anchor` in a markdown file, does not exist."""
    broken = []
    for target in links(page.read_text()):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # an absolute URL: not ours to resolve offline
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(root) if linked.is_relative_to(root) else linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_the_docs_pages_are_there():
    assert len(PAGES) > 2 and all(page.exists() for page in PAGES)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Devices, hosts, checkpoints", "devices-hosts-checkpoints"),
        ("Starting from weights: transfer learning", "starting-from-weights-transfer-learning"),
        ("With `image-classifier aws`", "with-image-classifier-aws"),
        ("The `model_fn` and *others*", "the-model_fn-and-others"),
        ("[Networks](networks.md) table", "networks-table"),
    ],
)
def test_slugs_follow_github(heading, anchor):
    assert slug(heading) == anchor


def test_a_missing_file_a_missing_anchor_and_a_repeated_heading_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Part\n\n## Part\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Here\n\n"
        "[ok](other.md#part-1) [ok](#here) [ok](https://example.com/#nowhere) `[code](missing.md)`\n\n"
        "```\n[fenced](missing.md)\n# not a heading\n```\n\n"
        "[gone](missing.md) [wrong](other.md#part-2) [self](#not-a-heading) ![image](pic.png)\n\n[ref]: other.md#nope\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no file missing.md",
        "other.md#part-2: no heading with anchor #part-2 in other.md",
        "#not-a-heading: no heading with anchor #not-a-heading in page.md",
        "pic.png: no file pic.png",
        "other.md#nope: no heading with anchor #nope in other.md",
    ]
