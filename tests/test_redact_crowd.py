"""Redaction in crowds: small faces found by the upscaled pass, the endpoint's report, and
covered pixels that stay covered after JPEG re-encoding."""

from __future__ import annotations

import base64
import json
import urllib.request
from functools import partial

import cv2
import numpy as np
import pytest

from oculi.errors import InvalidParameter
from oculi.models.zoo import load_face_analyzer
from oculi.service.budget import Budget
from oculi.service.redact import RedactOptions, find_faces, redact_image
from oculi.vision.decode import decode
from oculi.vision.pyramid import tiles
from oculi.vision.redact import redact
from tests.crowd_mosaic import crowd

OLD = RedactOptions(scales=(1.0,), min_score=0.6, margin=0.25)  # the default before


def covered(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per labelled box: are at least 90% of its pixels under `mask` (bench/crowd.py's
    criterion)?"""
    return np.array(
        [mask[int(y1) : int(y2), int(x1) : int(x2)].mean() >= 0.9 for x1, y1, x2, y2 in boxes]
    )


@pytest.fixture(scope="module")
def both():
    return load_face_analyzer(detector="yunet+retinaface", threads=2)


def test_tiles_cover_the_image_with_overlap() -> None:
    windows = tiles(2500, 900, tile=1024, overlap=160)
    assert windows[0] == (0, 0, 1024, 900) and windows[-1][2] == 2500
    assert all(b[0] <= a[2] - 160 for a, b in zip(windows, windows[1:]))
    assert tiles(640, 480) == [(0, 0, 640, 480)]


def test_crowd_faces_the_old_default_missed_are_covered(both) -> None:
    rgb, labelled = crowd()
    blank = np.full(rgb.shape[:2], 255, np.uint8)
    old = covered(
        redact(blank, find_faces(both, rgb, OLD).boxes, "fill", OLD.margin) == 0, labelled
    )
    new_opts = RedactOptions()
    new = covered(
        redact(blank, find_faces(both, rgb, new_opts).boxes, "fill", new_opts.margin) == 0, labelled
    )
    assert old.sum() <= len(labelled) - 10, old.sum()  # the old default leaves faces visible
    assert new.sum() >= len(labelled) - 2, new.sum()
    assert (new & ~old).sum() >= 10


def jpeg(rgb: np.ndarray) -> np.ndarray:
    """`rgb` encoded as a JPEG (quality 90) and decoded again."""
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return decode(data.tobytes()).rgb


def test_covered_faces_stay_covered_after_jpeg(both) -> None:
    rgb, labelled = crowd()
    out, boxes = redact_image(both, None, rgb, RedactOptions(mode="fill"))
    mask = redact(np.full(rgb.shape[:2], 255, np.uint8), boxes, "fill", RedactOptions().margin) == 0
    assert covered(mask, labelled).all()
    # Black stays black (JPEG rings a little at the ellipses' edges).
    assert (jpeg(out)[mask].max(axis=1) < 32).mean() > 0.99
    # Blurred and re-encoded: both detectors at their own threshold find no face left (on
    # the x2 copy one blurred blob, a skin-coloured ellipse under dark hair, scores 0.63).
    blurred = jpeg(redact_image(both, None, rgb, RedactOptions())[0])
    plain = RedactOptions(scales=(1.0,), min_score=0.6)
    assert len(find_faces(both, blurred, plain)) == 0
    assert len(find_faces(both, jpeg(rgb), plain)) >= 200


def test_endpoint_reports_what_it_covered(server) -> None:
    rgb, labelled = crowd()
    ok, body = cv2.imencode(".png", rgb[:, :, ::-1])
    req = urllib.request.Request(
        server.url + "/oculi/redact?mode=fill&report=1&persons=1",
        data=body.tobytes(),
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=300) as r:
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["x-oculi-redaction"] == RedactOptions().describe()
        faces = int(r.headers["x-oculi-faces-redacted"])
        report = json.loads(r.read())
    assert report["MediaType"] == "image/png" and report["Settings"] == RedactOptions().describe()
    assert len(report["Faces"]) == faces >= len(labelled) - 2
    assert len(report["Persons"]) == int(r.headers["x-oculi-persons-redacted"]) >= 1
    out = decode(base64.b64decode(report["Image"])).rgb
    mask = (out == 0).all(axis=2)
    assert covered(mask, labelled).sum() >= len(labelled) - 2
    box = report["Faces"][0]
    assert 0 <= box["Left"] < 1 and 0 < box["Width"] < 1
    # Bad settings are refused as AWS would refuse a bad parameter.
    for query in (
        "scales=0.5",
        "min_score=x",
        "persons=maybe",
        "margin=3",
        "persons=1&faces=only&collection=c",
    ):
        bad = urllib.request.Request(
            server.url + "/oculi/redact?" + query, data=body.tobytes(), method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=60)
        assert e.value.code == 400, query


def test_upscaled_pass_checks_the_budget_between_tiles(both) -> None:
    rgb, _ = crowd()
    calls: list[int] = []
    find_faces(both, rgb, RedactOptions(), lambda: calls.append(1))
    # 996 x 876 upscaled 2x: 3 x 2 tiles of 1024 pixels overlapping by 160, for each of the
    # two detectors.
    assert len(calls) == 12
    spent = Budget(seconds=0.0)
    with pytest.raises(InvalidParameter, match="budget"):
        find_faces(both, rgb, RedactOptions(), partial(spent.check, "finding small faces"))
