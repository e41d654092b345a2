"""File modes before and after: proof that a launcher changed no directory it did not make."""

from __future__ import annotations

import stat
from pathlib import Path


def modes(*trees: Path, around: tuple[Path, ...] = ()) -> dict[Path, int]:
    """Modes of each tree, all it holds and its parents; of ``around`` and its parents."""
    paths = [p for tree in trees for p in [*tree.parents, tree, *tree.rglob("*")]]
    paths += [p for path in around for p in [*path.parents, path] if p.exists()]
    return {p: stat.S_IMODE(p.stat().st_mode) for p in paths if not p.is_symlink()}


def assert_unchanged(before: dict[Path, int]) -> None:
    """Every path recorded in ``before`` still has its mode."""
    changed = {
        str(path): (oct(mode), oct(stat.S_IMODE(path.stat().st_mode)))
        for path, mode in before.items()
        if stat.S_IMODE(path.stat().st_mode) != mode
    }
    assert changed == {}, f"modes changed (before, after): {changed}"
