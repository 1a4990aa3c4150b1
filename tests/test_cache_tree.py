"""The cache folders (built-in datasets) are published whole or not at all."""

from pathlib import Path

import pytest

from trex.data.cache_tree import MARKER, build_tree, is_complete


def test_a_finished_build_is_stamped_and_in_place(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    with build_tree(root, "v1 64") as tmp:
        (tmp / "a.txt").write_text("x")
        assert not root.exists()  # nothing visible until the build is complete
    assert is_complete(root, "v1 64") and not is_complete(root, "v1 32")
    assert (root / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]  # no temporary folder left


def test_an_interrupted_build_leaves_the_old_tree_and_no_trace(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    with build_tree(root, "old") as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with build_tree(root, "new") as tmp:
            (tmp / "half.txt").write_text("half")
            raise KeyboardInterrupt
    assert is_complete(root, "old") and (root / "old.txt").exists() and not (root / "half.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]


def test_a_stale_tree_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "stale.txt").write_text("stale")  # an unstamped (incomplete) tree from an older run
    assert not is_complete(root, "v1")
    with build_tree(root, "v1") as tmp:
        (tmp / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "fresh.txt"]
