"""DetectLabels' image-level labels from the ImageNet classifier: boto3 on real photos, the
test-time views, the class -> label table, confidence sums, the taxonomy's Indoors, Outdoors
and Water parents, and the merge with the detectors' labels."""

from __future__ import annotations

import numpy as np
import pytest

from oculi.models.fetch import default_model_dir
from oculi.service.labels import LABEL_VIEWS, load_image_classifier
from oculi.vision.classify import CENTRE, VIEWS, image_labels, letterboxed, squashed
from oculi.vision.decode import decode
from oculi.vision.imagenet_labels import IMAGENET_LABELS
from oculi.vision.label_taxonomy import TAXONOMY, ancestors
from oculi.vision.labels import Instance, Label, with_image_labels
from tests.conftest import fixture_bytes

MOUNTAIN = "labels/picosdeeuropa.jpg"  # a mountain range and a meadow, no object to box
BEACH = "labels/kite.jpg"  # a wide beach: people on the sand at the left edge, surf, kites
DEBIAN = default_model_dir().parent / "bench-data"


def by_name(response: dict) -> dict[str, dict]:
    return {lab["Name"]: lab for lab in response["Labels"]}


def test_scene_label_from_the_classifier_with_parents(client) -> None:
    response = client.detect_labels(Image={"Bytes": fixture_bytes(MOUNTAIN)})
    labels = by_name(response)
    mountain = labels["Mountain"]
    assert mountain["Confidence"] >= 55
    assert mountain["Instances"] == []
    assert [p["Name"] for p in mountain["Parents"]] == ["Nature", "Outdoors"]
    assert mountain["Categories"] == [{"Name": "Nature and Outdoors"}]
    # A parent is at least as sure as its child: it sums the child's classes and more.
    assert labels["Outdoors"]["Confidence"] >= mountain["Confidence"]
    # No detector reports a scene, and nothing here has a box.
    assert all(lab["Instances"] == [] for lab in response["Labels"])
    assert "efficientnet-lite2" in response["LabelModelVersion"]


def test_scene_label_obeys_min_confidence_and_filters(client) -> None:
    image = {"Bytes": fixture_bytes(MOUNTAIN)}
    assert "Mountain" not in by_name(client.detect_labels(Image=image, MinConfidence=99))
    only = client.detect_labels(
        Image=image,
        Settings={"GeneralLabels": {"LabelCategoryInclusionFilters": ["Nature and Outdoors"]}},
    )["Labels"]
    assert {lab["Name"] for lab in only} >= {"Mountain", "Nature", "Outdoors"}
    assert all(lab["Categories"] == [{"Name": "Nature and Outdoors"}] for lab in only)
    without = client.detect_labels(
        Image=image, Settings={"GeneralLabels": {"LabelExclusionFilters": ["Mountain"]}}
    )["Labels"]
    assert "Mountain" not in {lab["Name"] for lab in without}


def test_whole_image_view_finds_the_beach_the_centre_crop_misses(client) -> None:
    rgb = decode(fixture_bytes(BEACH)).rgb
    classifier = load_image_classifier(threads=1)
    centre = {lab.name for lab in image_labels(classifier(rgb, CENTRE), 55)}
    assert "Beach" not in centre  # the centre crop cuts off the sand at the left edge
    labels = by_name(client.detect_labels(Image={"Bytes": fixture_bytes(BEACH)}))
    assert labels["Beach"]["Confidence"] >= 55
    assert {"Coast", "Sea", "Water", "Nature", "Outdoors"} <= labels.keys()
    assert "Indoors" not in labels


def test_views_are_the_input_size_and_keep_the_whole_image() -> None:
    rgb = np.zeros((100, 300, 3), np.uint8)
    rgb[:, :150] = 255  # left half white
    for name, view in VIEWS.items():
        assert view(rgb, 260).shape == (260, 260, 3), name
    box = letterboxed(rgb, 260)
    assert (box[:40] == 127).all() and (box[-40:] == 127).all()  # grey bars above and below
    assert box[130, 10].min() > 250 and box[130, -10].max() < 5  # both halves kept
    whole = squashed(rgb, 260)
    assert whole[0, 10].min() > 250 and whole[-1, -10].max() < 5
    assert (VIEWS["centre flipped"](rgb, 260) == VIEWS["centre"](rgb, 260)[:, ::-1]).all()
    assert LABEL_VIEWS[0] == "centre" and set(LABEL_VIEWS) <= VIEWS.keys()


def test_a_label_takes_its_best_view_not_a_sum_over_views() -> None:
    probs = np.zeros((2, 1000))
    probs[0, 207] = 0.6  # golden retriever in one view
    probs[1, 281] = 0.7  # tabby cat in the other
    labels = {lab.name: lab.confidence for lab in image_labels(probs, 15)}
    assert labels["Dog"] == pytest.approx(60) and labels["Cat"] == pytest.approx(70)
    assert labels["Pet"] == pytest.approx(70)  # its best view, not 130
    assert image_labels(probs[:1], 15) == image_labels(probs[0], 15)


def test_indoors_outdoors_and_water_parents_follow_the_rule() -> None:
    def has(parent: str, *labels: str) -> list[bool]:
        return [parent in ancestors(lab) for lab in labels]

    indoor = ("Bed", "Couch", "Crib", "Wardrobe", "Bookcase", "Cabinet", "Pool Table")
    assert all(has("Indoors", *indoor, "Toilet", "Bathtub", "Library", "Restaurant"))
    # Seen indoors and out, or photographed on their own: no Indoors.
    both = ("Chair", "Table", "Dining Table", "Bench", "Lamp", "Rug", "Refrigerator", "Shop")
    assert not any(has("Indoors", *both, "Stage", "Bookstore"))
    assert all(has("Outdoors", "Bridge", "Dam", "Pier", "Lighthouse", "Barn", "Beach", "Tent"))
    assert not any(has("Outdoors", "Building", "Church", "Library", *indoor))
    assert all(has("Water", "Dam", "Pier", "Fountain", "Lake", "Beach", "Scuba Diving"))
    assert not any({"Indoors", "Outdoors"} <= set(ancestors(lab)) for lab in TAXONOMY)


def test_every_class_maps_to_a_known_label_or_is_dropped() -> None:
    assert len(IMAGENET_LABELS) == 1000
    mapped = [lab for lab in IMAGENET_LABELS if lab is not None]
    assert all(lab in TAXONOMY for lab in mapped)
    assert IMAGENET_LABELS[978] == "Beach"  # seashore
    assert IMAGENET_LABELS[970] == "Mountain"  # alp
    assert set(IMAGENET_LABELS[151:269]) == {"Dog"}  # the 118 dog breeds
    assert IMAGENET_LABELS[738] == "Potted Plant"  # ImageNet's 'pot' is a flowerpot
    assert IMAGENET_LABELS[517] == "Crane" and IMAGENET_LABELS[134] == "Bird"  # two cranes
    assert len(mapped) == 892


def test_confidence_sums_the_classes_under_a_label() -> None:
    probs = np.zeros(1000)
    probs[[207, 208]] = 0.3  # golden and Labrador retriever
    probs[281] = 0.2  # tabby cat
    probs[999] = 0.2  # toilet tissue
    labels = {lab.name: lab for lab in image_labels(probs, 15)}
    assert labels["Dog"].confidence == pytest.approx(60)
    assert labels["Pet"].confidence == pytest.approx(80)  # dogs and the cat
    assert labels["Animal"].confidence == pytest.approx(80)
    assert labels["Cat"].confidence == pytest.approx(20)
    assert labels["Dog"].parents == tuple(ancestors("Dog"))
    assert labels["Dog"].instances == ()
    assert "Mammal" in labels and "Toilet Paper" in labels
    assert "Cat" not in {lab.name for lab in image_labels(probs, 55)}


def label(name: str, confidence: float, boxes: int = 0) -> Label:
    return Label(
        name,
        confidence,
        tuple(Instance(np.zeros(4), confidence) for _ in range(boxes)),
        tuple(ancestors(name)),
        (),
        (),
    )


def test_merge_keeps_the_detector_instances_and_the_higher_confidence() -> None:
    objects = [label("Dog", 70, boxes=2), label("Animal", 70), label("Bicycle", 90, 1)]
    image = [label("Dog", 85), label("Animal", 60), label("Mountain", 57)]
    merged = {lab.name: lab for lab in with_image_labels(objects, image)}
    assert merged["Dog"].confidence == 85 and len(merged["Dog"].instances) == 2
    assert merged["Animal"].confidence == 70 and merged["Animal"].instances == ()
    assert len(merged["Bicycle"].instances) == 1
    assert merged["Mountain"].instances == ()
    assert [lab.name for lab in with_image_labels(objects, image)][:2] == ["Bicycle", "Dog"]


@pytest.mark.skipif(
    not (DEBIAN / "usr/share/darknet/data/9k.tree").is_file(),
    reason="darknet's WordTree not unpacked (bench/labels.py --fetch)",
)
def test_label_table_is_what_the_rule_gives() -> None:
    from tools.imagenet_labels import OUT, read_chains, render, resolve

    chains = read_chains(DEBIAN)
    assert OUT.read_text() == render(chains, resolve(chains))
