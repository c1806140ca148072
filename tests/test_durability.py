"""kill -9 at random moments loses no acknowledged face and undoes no acknowledged delete."""

from __future__ import annotations

from tests.conftest import FIXTURES
from tools.crash_test import main as crash_test


def test_kill_minus_nine_keeps_acknowledged_writes(tmp_path) -> None:
    assert crash_test(["--cycles", "4", "--images", str(FIXTURES / "people" / "train"),
                       "--data-dir", str(tmp_path)]) == 0
