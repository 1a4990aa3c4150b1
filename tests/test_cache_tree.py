"""The cache folders (built-in datasets) are published whole or not at all."""

from pathlib import Path

import pytest

from trex.data.cache_tree import MARKER, ForeignFolderError, build_tree, is_complete


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


def test_a_tree_of_other_settings_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    with build_tree(root, "v0") as tmp:
        (tmp / "stale.txt").write_text("stale")  # a finished tree of older settings, built by trex
    assert not is_complete(root, "v1")
    with build_tree(root, "v1") as tmp:
        (tmp / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "fresh.txt"]


def test_an_empty_folder_is_filled(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    with build_tree(root, "v1") as tmp:
        (tmp / "fresh.txt").write_text("fresh")
    assert is_complete(root, "v1") and (root / "fresh.txt").exists()


@pytest.mark.parametrize("kind", ["folder", "file", "symlink"])
def test_a_folder_trex_did_not_build_is_never_replaced(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "tree"
    if kind == "folder":
        root.mkdir()
        (root / "mine.txt").write_text("the user's")  # no COMPLETE stamp: not trex's
    elif kind == "file":
        root.write_text("the user's")
    else:
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / MARKER).write_text("v0\n")
        root.symlink_to(tmp_path / "elsewhere")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    entered = False
    with pytest.raises(ForeignFolderError, match=f"{root}: .*trex"):
        with build_tree(root, "v1"):
            entered = True
    assert not entered  # refused before any work
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
