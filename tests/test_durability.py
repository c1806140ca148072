"""kill -9 at random moments loses no acknowledged face, undoes no acknowledged delete and
leaves an audit log that verifies (tools/crash_test.py)."""

from __future__ import annotations

from oculi.service.context import ANN_DIR
from oculi.store.names import storage_name
from tests.conftest import FIXTURES
from tools.crash_test import main as crash_test


def test_kill_minus_nine_keeps_acknowledged_writes(tmp_path) -> None:
    assert (
        crash_test(
            [
                "--cycles",
                "4",
                "--images",
                str(FIXTURES / "people" / "train"),
                "--data-dir",
                str(tmp_path),
            ]
        )
        == 0
    )


def test_kill_minus_nine_with_the_ann_index_and_its_snapshots(tmp_path) -> None:
    """Past a threshold of 3 faces the collection is searched by AnnIndex, whose snapshot
    is rewritten every 3 changes: kills land before, during and after those writes."""
    assert (
        crash_test(
            [
                "--cycles",
                "6",
                "--images",
                str(FIXTURES / "people" / "train"),
                "--data-dir",
                str(tmp_path),
                "--ann-threshold",
                "3",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    assert (
        tmp_path / ANN_DIR / f"{storage_name('crash-test')}.ann"
    ).exists()  # the ANN path was taken
