"""Rekognition-style names, parents, aliases and categories for the labels oculi can output.

Only labels that oculi's detectors give evidence for are here (the 23 Open Images classes of
oculi/vision/labels.py's SSD, Person from the SSDLite person detector, which reports under
the same Open Images name, and License Plate from the plate finder of
oculi/service/label_plates.py): each class maps to one label, and a label's parents are
reported as labels too (with the best confidence of their children, without Instances), as
Rekognition does. The names follow Rekognition's label list where it has the same concept
(e.g. Open Images "Computer monitor" is Rekognition's "Monitor"); the parent chains,
aliases and categories follow Rekognition's published style and category names, written
for these labels by oculi (Rekognition's own label list cannot be fetched here).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelInfo:
    parents: tuple[str, ...] = ()  # direct parents only; ancestors() walks the chain
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


VEHICLES = "Vehicles and Automotive"
APPAREL = "Apparel and Accessories"
TECH = "Technology and Computing"
FURNITURE = "Furniture and Furnishings"
ANIMALS = "Animals and Pets"
KITCHEN = "Kitchen and Dining"

# Open Images class (the detector's label map) -> Rekognition label.
CLASS_LABEL: dict[str, str] = {
    "Person": "Person",
    "Bicycle": "Bicycle",
    "Car": "Car",
    "Vehicle": "Vehicle",
    "Boot": "Boot",
    "High heels": "High Heel",
    "Footwear": "Footwear",
    "Laptop": "Laptop",
    "Computer mouse": "Mouse",
    "Computer monitor": "Monitor",
    "Camera": "Camera",
    "Chair": "Chair",
    "Desk": "Desk",
    "Table": "Table",
    "Cat": "Cat",
    "Dog": "Dog",
    "Cattle": "Cattle",
    "Box": "Box",
    "Mug": "Cup",
    "Coffee cup": "Coffee Cup",
    "Stationary bicycle": "Exercise Bike",
    "Bottle": "Bottle",
    "Book": "Book",
    "License plate": "License Plate",
}

TAXONOMY: dict[str, LabelInfo] = {
    "Person": LabelInfo(aliases=("Human",), categories=("Person Description",)),
    "Transportation": LabelInfo(categories=(VEHICLES,)),
    "Vehicle": LabelInfo(parents=("Transportation",), categories=(VEHICLES,)),
    "Car": LabelInfo(parents=("Vehicle",), aliases=("Automobile",), categories=(VEHICLES,)),
    "Bicycle": LabelInfo(parents=("Vehicle",), aliases=("Bike",), categories=(VEHICLES,)),
    "License Plate": LabelInfo(parents=("Transportation",), categories=(VEHICLES,)),
    "Clothing": LabelInfo(aliases=("Apparel",), categories=(APPAREL,)),
    "Footwear": LabelInfo(parents=("Clothing",), categories=(APPAREL,)),
    "Shoe": LabelInfo(parents=("Footwear",), categories=(APPAREL,)),
    "Boot": LabelInfo(parents=("Footwear",), categories=(APPAREL,)),
    "High Heel": LabelInfo(parents=("Shoe",), categories=(APPAREL,)),
    "Electronics": LabelInfo(categories=(TECH,)),
    "Hardware": LabelInfo(categories=(TECH,)),
    "Computer": LabelInfo(parents=("Electronics",), categories=(TECH,)),
    "Computer Hardware": LabelInfo(parents=("Electronics", "Hardware"), categories=(TECH,)),
    "Laptop": LabelInfo(parents=("Computer",), aliases=("PC",), categories=(TECH,)),
    "Mouse": LabelInfo(parents=("Computer Hardware",), categories=(TECH,)),
    "Screen": LabelInfo(parents=("Electronics",), categories=(TECH,)),
    "Monitor": LabelInfo(parents=("Computer Hardware", "Screen"), aliases=("Display",),
                         categories=(TECH,)),
    "Camera": LabelInfo(parents=("Electronics",), categories=(TECH,)),
    "Furniture": LabelInfo(categories=(FURNITURE,)),
    "Chair": LabelInfo(parents=("Furniture",), categories=(FURNITURE,)),
    "Table": LabelInfo(parents=("Furniture",), categories=(FURNITURE,)),
    "Desk": LabelInfo(parents=("Table",), categories=(FURNITURE,)),
    "Animal": LabelInfo(categories=(ANIMALS,)),
    "Mammal": LabelInfo(parents=("Animal",), categories=(ANIMALS,)),
    "Pet": LabelInfo(parents=("Animal",), categories=(ANIMALS,)),
    "Canine": LabelInfo(parents=("Mammal",), categories=(ANIMALS,)),
    "Dog": LabelInfo(parents=("Canine", "Pet"), categories=(ANIMALS,)),
    "Cat": LabelInfo(parents=("Mammal", "Pet"), categories=(ANIMALS,)),
    "Livestock": LabelInfo(parents=("Animal",), categories=(ANIMALS,)),
    "Cattle": LabelInfo(parents=("Livestock", "Mammal"), aliases=("Cow",),
                        categories=(ANIMALS,)),
    "Box": LabelInfo(categories=("Everyday Objects",)),
    "Cup": LabelInfo(aliases=("Mug",), categories=(KITCHEN,)),
    "Coffee Cup": LabelInfo(parents=("Cup",), categories=(KITCHEN,)),
    "Exercise Bike": LabelInfo(aliases=("Stationary Bike",), categories=("Health and Fitness",)),
    "Bottle": LabelInfo(categories=("Everyday Objects",)),
    "Publication": LabelInfo(categories=("Text and Documents",)),
    "Book": LabelInfo(parents=("Publication",), categories=("Text and Documents",)),
}


def ancestors(label: str) -> list[str]:
    """Every ancestor of a label, nearest first, each once."""
    out: list[str] = []
    frontier = list(TAXONOMY[label].parents)
    while frontier:
        parent = frontier.pop(0)
        if parent not in out:
            out.append(parent)
            frontier += TAXONOMY[parent].parents
    return out
