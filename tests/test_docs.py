"""The project's own documents: every file a docstring, comment or the README points at is in the
repository (users never see files outside it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_document_named_in_the_package_and_readme_exists() -> None:
    texts = [
        *sorted((ROOT / "python" / "trex").rglob("*.py")),
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    named = {}
    for path in texts:
        # a path (docs/method.md) or an upper-case document name (DESIGN.md); not output file names
        for ref in re.findall(r"\b(?:[\w.-]+/)+[\w.-]+\.md\b|\b[A-Z][A-Z_]+\.md\b", path.read_text()):
            named.setdefault(ref, path.relative_to(ROOT))
    assert "docs/method.md" in named  # the scan sees the references it is meant to check
    missing = {ref: str(where) for ref, where in named.items() if not (ROOT / ref).is_file()}
    assert not missing, f"documents named but not in the repository: {missing}"
