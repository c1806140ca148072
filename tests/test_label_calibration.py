"""The calibrated fusion of DetectLabels' detectors (oculi/vision/label_calibration.py) on
hand-made detections: grouping across detectors, the calibrated score, one name a box."""

from __future__ import annotations

import numpy as np

from oculi.vision.label_calibration import (
    COCO_CALIBRATION,
    FLOOR,
    PERSON_CALIBRATION,
    SHARED_CALIBRATION,
    Calibration,
    calibration,
    fuse_detectors,
    group,
    relative_side,
)
from oculi.vision.labels import Objects
from oculi.vision.nanodet import COCO_CLASSES

SSD_NAMES = ("???", "Person", "Car", "Dog", "Footwear")
PERSONS = ("???", "Person")


def objects(boxes: list, scores: list, classes: list, names: tuple[str, ...]) -> Objects:
    return Objects(
        np.float32(boxes).reshape(-1, 4), np.float32(scores), np.array(classes, np.int64), names
    )


def empty(names: tuple[str, ...]) -> Objects:
    return objects([], [], [], names)


def parts(ssd=None, whole=None, tiles=None, coco=None) -> list[Objects]:
    return [
        ssd or empty(SSD_NAMES),
        whole or empty(PERSONS),
        tiles or empty(PERSONS),
        coco or empty(COCO_CLASSES),
    ]


def fused(**found: Objects) -> Objects:
    return fuse_detectors(parts(**found), 640, 480)


def test_calibration_is_a_logistic_on_the_logits_their_best_and_the_box_size() -> None:
    cal = Calibration((2.0, 0.0), 1.5, 0.5, -1.0)
    got = cal(np.array([[0.5, 0.9], [0.9, FLOOR / 2]]), np.array([1.0, np.e]))
    logit9 = np.log(9.0)
    z = np.array([-1.0 + 1.5 * logit9, -1.0 + 2.0 * logit9 + 1.5 * logit9 + 0.5])
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(relative_side(np.float32([[0, 0, 10, 40]]), 40, 40), [0.5])


def test_boxes_of_one_label_group_across_detectors() -> None:
    ps = parts(
        whole=objects([[0, 0, 10, 20]], [0.6], [1], PERSONS),
        tiles=objects([[1, 0, 10, 21], [50, 50, 60, 70]], [0.8, 0.3], [1, 1], PERSONS),
        coco=objects([[0, 1, 11, 20]], [0.7], [0], COCO_CLASSES),
    )
    g = group(ps, "Person")
    assert len(g.boxes) == 2
    np.testing.assert_allclose(g.best[0], [0, 0.6, 0.8, 0.7], atol=1e-6)
    np.testing.assert_allclose(g.boxes[0], [1, 0, 10, 21])  # the most confident member's
    np.testing.assert_allclose(g.best[1], [0, 0, 0.3, 0], atol=1e-6)


def test_each_label_takes_the_weights_of_the_detectors_that_name_it() -> None:
    ps = parts()
    assert calibration(ps, "Person") is PERSON_CALIBRATION
    assert calibration(ps, "Dog") is SHARED_CALIBRATION
    assert calibration(ps, "Horse") is COCO_CALIBRATION
    assert calibration(ps, "Footwear") is None  # the SSD's alone: its raw score


def test_agreement_scores_higher_than_one_detector_alone() -> None:
    box = [[0, 0, 10, 20]]
    seen_by_one = fused(tiles=objects(box, [0.5], [1], PERSONS))
    seen_by_all = fused(
        whole=objects(box, [0.5], [1], PERSONS),
        tiles=objects(box, [0.5], [1], PERSONS),
        coco=objects(box, [0.5], [0], COCO_CLASSES),
    )
    assert len(seen_by_one) == len(seen_by_all) == 1
    assert seen_by_all.scores[0] > seen_by_one.scores[0]
    assert seen_by_all.class_names() == ["Person"]


def test_one_object_gets_one_name_unless_one_is_the_others_parent() -> None:
    # NanoDet's horse and cow on the same animal: the less confident name goes.
    horse, cow = COCO_CLASSES.index("horse"), COCO_CLASSES.index("cow")
    same = [[0, 0, 100, 80], [2, 0, 100, 80]]
    found = fused(coco=objects(same, [0.6, 0.4], [horse, cow], COCO_CLASSES))
    assert found.class_names() == ["horse"]
    apart = [[0, 0, 100, 80], [200, 0, 300, 80]]
    found = fused(coco=objects(apart, [0.6, 0.4], [horse, cow], COCO_CLASSES))
    assert sorted(found.class_names()) == ["cow", "horse"]
    # a Car inside the SSD's Vehicle box of the same object keeps both names
    ssd = objects(same, [0.9, 0.8], [2, 5], (*SSD_NAMES, "Vehicle"))
    assert sorted(fused(ssd=ssd).class_names()) == ["Car", "Vehicle"]


def test_labels_only_the_ssd_has_keep_their_raw_score() -> None:
    found = fused(ssd=objects([[0, 0, 10, 10]], [0.42], [4], SSD_NAMES))
    assert found.class_names() == ["Footwear"]
    np.testing.assert_allclose(found.scores, [0.42], atol=1e-6)
