"""Fusing the boxes of several views of one image (oculi/vision/labels.py: fuse)."""

from __future__ import annotations

import numpy as np
import pytest

from oculi.vision.labels import Candidates, fuse


def view(*rows: tuple[float, float, float, float, float], cls: int = 1) -> Candidates:
    """Candidates from rows (x1, y1, x2, y2, score), all of one class."""
    a = np.array(rows, np.float32).reshape(-1, 5)
    return Candidates(a[:, :4], a[:, 4], np.full(len(a), cls, np.int64))


def test_one_view_is_per_class_nms() -> None:
    found = fuse(
        [view((0, 0, 10, 20, 0.9), (1, 0, 11, 20, 0.6), (30, 0, 40, 20, 0.5))], iou=0.5, vote=True
    )
    assert found.scores.tolist() == pytest.approx([0.9, 0.5])
    assert found.boxes[:, 0].tolist() == [0, 30]


def test_views_vote_on_the_same_person() -> None:
    a = view((0, 0, 10, 20, 0.5), (100, 0, 110, 20, 0.4))
    b = view((0, 1, 10, 21, 0.4))  # IoU 0.90 with a's first box
    c = view((0, 0, 10, 20, 0.3), (1, 0, 10, 20, 0.2))  # a view counts once: its best box
    found = fuse([a, b, c], iou=0.7, vote=True)
    assert found.boxes[0].tolist() == [0, 0, 10, 20]  # the most confident box's place
    assert found.scores.tolist() == pytest.approx([1 - 0.5 * 0.6 * 0.7, 0.4])
    kept = fuse([a, b, c], iou=0.7, vote=False)
    assert kept.scores.tolist() == pytest.approx([0.5, 0.4])


def test_neighbours_overlapping_less_than_iou_stay_apart() -> None:
    # IoU 0.6: two people side by side survive at 0.7, one swallows the other at 0.5
    a = view((0, 0, 16, 40, 0.9))
    b = view((4, 0, 20, 40, 0.8))
    assert len(fuse([a, b], iou=0.7, vote=True).boxes) == 2
    assert len(fuse([a, b], iou=0.5, vote=True).boxes) == 1


def test_classes_do_not_mix() -> None:
    found = fuse(
        [view((0, 0, 10, 20, 0.5), cls=1), view((0, 0, 10, 20, 0.5), cls=2)], iou=0.5, vote=True
    )
    assert sorted(found.classes.tolist()) == [1, 2]
    assert found.scores.tolist() == pytest.approx([0.5, 0.5])
