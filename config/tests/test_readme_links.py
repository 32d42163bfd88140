"""The README and docs/ point only inside the repository: a clone has everything they name."""

import re
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DOCUMENTS = [BASE_DIR / "README.md", *sorted((BASE_DIR / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_names_a_file_of_the_repository(document):
    text = document.read_text()
    assert "../" not in text
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+://", target):
            assert (document.parent / target).resolve().is_relative_to(BASE_DIR), target
            assert (document.parent / target).exists(), target


def test_the_readme_points_to_the_architecture_document():
    assert "](docs/architecture.md)" in (BASE_DIR / "README.md").read_text()
