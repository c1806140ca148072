"""Write oculi/vision/imagenet_labels.py: each ImageNet-1k class's Rekognition label.

The rule: walk a class's WordNet hypernym chain from the class itself upwards (nearest
first); the first synset named in SYNSET_LABEL decides. Its label is the class's label,
or, where the table says None, the class is dropped (a branch too vague, too rare in
photos or too often wrong to report, e.g. armour, fasteners, lab ware). A class whose
chain meets no entry is dropped too. The table below is the reviewed part: group entries
(a WordNet synset high in the tree, e.g. 'dog' for all 118 breeds, 'shop' for every shop)
and class entries where a class needs a name of its own ('seashore' -> Beach) or its
WordNet group says the wrong thing (ImageNet's 'pot' is a flowerpot). Labels, parents and
categories are in oculi/vision/label_taxonomy.py.

The chains come from darknet's WordTree (data/9k.tree, 9k.labels, 9k.names: one WordNet
parent per synset; Debian's darknet package, MIT), the class order and names from
ImageNet's sorted synset ids (data/imagenet.labels.list, whose first 1000 are ILSVRC-2012's),
checked against OpenCV's classification_classes_ILSVRC2012.txt (opencv-doc):

    python -m tools.imagenet_labels --debian ~/.cache/oculi/bench-data

(the folder bench/labels.py --fetch unpacks). A name that means two WordNet synsets met
in the chains (e.g. 'crane', bird and machine) must be written as its synset id.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "oculi" / "vision" / "imagenet_labels.py"

SYNSET_LABEL: dict[str, str | None] = {
    # Animals: groups first, then the few classes with a label of their own.
    "mammal": "Mammal",
    "invertebrate": "Invertebrate",
    "fish": "Fish",
    "shark": "Shark",
    "bird": "Bird",
    "parrot": "Parrot",
    "owl": "Owl",
    "eagle": "Eagle",
    "penguin": "Penguin",
    "duck": "Duck",
    "goose": "Goose",
    "swan": "Swan",
    "flamingo": "Flamingo",
    "cock": "Chicken",
    "hen": "Chicken",
    "peacock": "Peacock",
    "hummingbird": "Hummingbird",
    "pelican": "Pelican",
    "ostrich": "Ostrich",
    "n01627424": "Amphibian",
    "frog": "Frog",
    "turtle": "Turtle",
    "lizard": "Lizard",
    "snake": "Snake",
    "crocodilian reptile": "Crocodile",
    "dinosaur": "Dinosaur",
    "insect": "Insect",
    "butterfly": "Butterfly",
    "bee": "Bee",
    "ant": "Ant",
    "beetle": "Beetle",
    "spider": "Spider",
    "crustacean": "Crustacean",
    "crab": "Crab",
    "lobster": "Lobster",
    "jellyfish": "Jellyfish",
    "sea anemone": "Sea Life",
    "coral": "Sea Life",
    "starfish": "Starfish",
    "sea urchin": "Sea Life",
    "sea cucumber": "Sea Life",
    "snail": "Snail",
    "dog": "Dog",
    "wolf": "Wolf",
    "fox": "Fox",
    "canine": "Canine",
    "hyena": "Hyena",
    "domestic cat": "Cat",
    "lion": "Lion",
    "tiger": "Tiger",
    "cheetah": "Cheetah",
    "leopard": "Leopard",
    "snow leopard": "Leopard",
    "jaguar": "Jaguar",
    "cougar": "Cougar",
    "lynx": "Lynx",
    "bear": "Bear",
    "giant panda": "Giant Panda",
    "lesser panda": "Red Panda",
    "rodent": "Rodent",
    "squirrel": "Squirrel",
    "hamster": "Hamster",
    "guinea pig": "Guinea Pig",
    "leporid": "Rabbit",
    "horse": "Horse",
    "zebra": "Zebra",
    "swine": "Pig",
    "hippopotamus": "Hippo",
    "cattle": "Cattle",
    "Old World buffalo": "Buffalo",
    "bison": "Bison",
    "sheep": "Sheep",
    "mountain sheep": "Sheep",
    "goat": "Goat",
    "antelope": "Antelope",
    "camel": "Camel",
    "llama": "Llama",
    "otter": "Otter",
    "primate": "Primate",
    "monkey": "Monkey",
    "ape": "Ape",
    "gorilla": "Gorilla",
    "chimpanzee": "Chimpanzee",
    "orangutan": "Orangutan",
    "elephant": "Elephant",
    "tusker": "Elephant",
    "kangaroo": "Kangaroo",
    "koala": "Koala",
    "whale": "Whale",
    "seal": "Seal",
    # People: ImageNet's three person classes fire on scenes of their activity.
    "ballplayer": "Baseball",
    "groom": "Wedding",
    "scuba diver": "Scuba Diving",
    # Plants and fungi.
    "daisy": "Daisy",
    "orchid": "Orchid",
    "fungus": "Fungus",
    "rapeseed": "Field",
    "corn": "Corn",
    "ear": "Corn",
    "acorn": None,
    "hip": None,
    "buckeye": None,
    "hay": "Hay",
    # Scenes: landforms.
    "alp": "Mountain",
    "volcano": "Volcano",
    "cliff": "Cliff",
    "coral reef": "Reef",
    "geyser": "Geyser",
    "lakeside": "Lake",
    "promontory": "Promontory",
    "sandbar": "Beach",
    "seashore": "Beach",
    "valley": "Valley",
    # Scenes: buildings, rooms and places.
    "library": "Library",
    "restaurant": "Restaurant",
    "bakery": "Bakery",
    "shop": "Shop",
    "bookshop": "Bookstore",
    "barbershop": "Barbershop",
    "butcher shop": "Butcher Shop",
    "toyshop": "Toy Store",
    "shoe shop": "Shoe Store",
    "confectionery": "Candy Store",
    "grocery store": "Grocery Store",
    "church": "Church",
    "mosque": "Mosque",
    "stupa": "Temple",
    "monastery": "Monastery",
    "palace": "Palace",
    "castle": "Castle",
    "cinema": "Theater",
    "home theater": "Living Room",
    "planetarium": "Building",
    "greenhouse": "Greenhouse",
    "barn": "Barn",
    "boathouse": "Building",
    "prison": "Prison",
    "bridge": "Bridge",
    "dam": "Dam",
    "dock": "Pier",
    "pier": "Pier",
    "breakwater": "Pier",
    "beacon": "Lighthouse",
    "water tower": "Tower",
    "obelisk": "Monument",
    "megalith": "Monument",
    "triumphal arch": "Arch",
    "fountain": "Fountain",
    "patio": "Patio",
    "altar": "Altar",
    "yurt": "Tent",
    "mountain tent": "Tent",
    "dome": "Dome",
    "thatch": "Roof",
    "tile roof": "Roof",
    "vault": None,
    "stage": "Stage",
    "fence": "Fence",
    "stone wall": "Wall",
    "sliding door": "Door",
    "carousel": "Carousel",
    "swing": "Swing",
    "fire screen": "Fireplace",
    "apiary": None,
    "cliff dwelling": None,
    "mobile home": None,
    "bell cote": None,
    "bannister": None,
    "turnstile": None,
    "grille": None,
    "maze": None,
    "honeycomb": None,
    "coil": None,
    "pedestal": None,
    "totem pole": None,
    "maypole": None,
    # Vehicles.
    "n02958343": "Car",  # car: a motor car (not a railway car)
    "ambulance": "Ambulance",
    "sports car": "Sports Car",
    "racer": "Sports Car",
    "cab": "Taxi",
    "bus": "Bus",
    "school bus": "School Bus",
    "truck": "Truck",
    "fire engine": "Fire Truck",
    "pickup": "Pickup Truck",
    "tow truck": "Tow Truck",
    "van": "Van",
    "motorcycle": "Motorcycle",
    "motor scooter": "Scooter",
    "bicycle": "Bicycle",
    "tricycle": "Tricycle",
    "unicycle": None,
    "airplane": "Airplane",
    "warplane": "Airplane",
    "wing": "Airplane",
    "airship": "Airship",
    "balloon": "Hot Air Balloon",
    "space shuttle": "Space Shuttle",
    "boat": "Boat",
    "ship": "Ship",
    "sailing vessel": "Sailboat",
    "yawl": "Sailboat",
    "canoe": "Canoe",
    "speedboat": "Speedboat",
    "gondola": "Boat",
    "wreck": "Shipwreck",
    "submarine": "Submarine",
    "train": "Train",
    "locomotive": "Train",
    "passenger car": "Train",
    "freight car": "Train",
    "streetcar": "Tram",
    "forklift": "Forklift",
    "tractor": "Tractor",
    "harvester": "Tractor",
    "thresher": "Tractor",
    "snowplow": "Truck",
    "snowmobile": "Snowmobile",
    "go-kart": "Kart",
    "golfcart": "Golf Cart",
    "recreational vehicle": "RV",
    "n02704792": "Vehicle",  # amphibian: an amphibious vehicle
    "cart": "Cart",
    "shopping cart": "Shopping Cart",
    "barrow": "Cart",
    "sled": "Sled",
    "car wheel": "Wheel",
    "n04389033": "Tank",
    "half track": "Military Vehicle",
    "gas pump": "Gas Pump",
    "n03126707": "Crane",  # crane: the machine
    "drilling platform": None,
    "car mirror": None,
    "disk brake": None,
    "seat belt": None,
    "radiator": None,
    "paddlewheel": None,
    # Weapons.
    "firearm": "Gun",
    "cannon": "Cannon",
    "missile": "Missile",
    "projectile": "Missile",
    "bow": "Bow",
    "armor": None,
    "n04192698": None,
    "n04192858": None,
    "guillotine": None,
    # Electronics and machines.
    "computer": "Computer",
    "laptop": "Laptop",
    "notebook": "Laptop",
    "cellular telephone": "Mobile Phone",
    "telephone": "Phone",
    "monitor": "Monitor",
    "n04152593": "Screen",
    "television": "TV",
    "computer keyboard": "Computer Keyboard",
    "typewriter keyboard": "Computer Keyboard",
    "space bar": "Computer Keyboard",
    "mouse": "Mouse",
    "remote control": "Remote Control",
    "electronic equipment": "Electronics",
    "iPod": "Electronics",
    "loudspeaker": "Speaker",
    "microphone": "Microphone",
    "hard disc": "Computer Hardware",
    "joystick": "Joystick",
    "n04004767": "Printer",
    "photocopier": "Printer",
    "projector": "Projector",
    "camera": "Camera",
    "radio": "Radio",
    "cash machine": "ATM",
    "vending machine": "Vending Machine",
    "tripod": "Tripod",
    "web site": None,
    "slide rule": None,
    "switch": None,
    "slot": None,
    "abacus": None,
    # Home, kitchen and appliances.
    "dishwasher": "Dishwasher",
    "washer": "Washing Machine",
    "refrigerator": "Refrigerator",
    "microwave": "Microwave",
    "toaster": "Toaster",
    "Dutch oven": "Pot",
    "rotisserie": "Oven",
    "stove": "Stove",
    "espresso maker": "Coffee Maker",
    "waffle iron": "Appliance",
    "Crock Pot": "Appliance",
    "iron": "Iron",
    "vacuum": "Vacuum Cleaner",
    "sewing machine": "Sewing Machine",
    "space heater": "Heater",
    "electric fan": "Fan",
    "hand blower": "Hair Dryer",
    "frying pan": "Frying Pan",
    "wok": "Wok",
    "caldron": "Pot",
    "coffeepot": "Pot",
    "teapot": "Teapot",
    "spatula": "Kitchen Utensil",
    "ladle": "Kitchen Utensil",
    "strainer": "Kitchen Utensil",
    "can opener": "Kitchen Utensil",
    "corkscrew": "Kitchen Utensil",
    "wooden spoon": "Spoon",
    "cleaver": "Knife",
    "bowl": "Bowl",
    "coffee mug": "Coffee Cup",
    "measuring cup": "Cup",
    "n07930864": "Cup",  # cup: WordNet's is a punch; ImageNet's photos show cups
    "beer glass": "Glass",
    "goblet": "Glass",
    "bottle": "Bottle",
    "jug": "Jug",
    "pitcher": "Jug",
    "vase": "Vase",
    "beaker": None,
    "Petri dish": None,
    "cocktail shaker": None,
    "saltshaker": None,
    "plate rack": None,
    "tray": None,
    "mortar": None,
    "bathtub": "Bathtub",
    "tub": "Bathtub",
    "washbasin": "Sink",
    "toilet seat": "Toilet",
    "shower curtain": "Shower Curtain",
    "soap dispenser": None,
    "chair": "Chair",
    "park bench": "Bench",
    "studio couch": "Couch",
    "desk": "Desk",
    "dining table": "Dining Table",
    "bookcase": "Bookcase",
    "cabinet": "Cabinet",
    "file": "Cabinet",
    "chiffonier": "Dresser",
    "wardrobe": "Wardrobe",
    "entertainment center": "Entertainment Center",
    "four-poster": "Bed",
    "baby bed": "Crib",
    "table lamp": "Lamp",
    "lampshade": "Lamp",
    "pillow": "Cushion",
    "quilt": "Quilt",
    "doormat": "Rug",
    "prayer rug": "Rug",
    "window shade": "Window",
    "window screen": "Window",
    "shoji": None,
    "theater curtain": "Curtain",
    "candle": "Candle",
    "spotlight": "Lighting",
    "torch": None,
    "jack-o'-lantern": "Jack-o'-lantern",
    "Christmas stocking": "Christmas Stocking",
    "n03991062": "Potted Plant",  # pot: ImageNet's is a flowerpot
    "ashcan": "Trash Can",
    "barrel": "Barrel",
    "rain barrel": "Barrel",
    "bucket": "Bucket",
    "box": "Box",
    "mailbox": "Mailbox",
    "safe": None,
    "basket": "Basket",
    "milk can": None,
    "packet": None,
    "cassette": None,
    "envelope": "Envelope",
    "wallet": "Wallet",
    "purse": "Handbag",
    "backpack": "Backpack",
    "mailbag": "Bag",
    "plastic bag": "Plastic Bag",
    "sleeping bag": None,
    "bottlecap": None,
    "lens cap": None,
    "nipple": None,
    "thimble": None,
    "manhole cover": None,
    "piggy bank": "Piggy Bank",
    "umbrella": "Umbrella",
    "birdhouse": None,
    "potter's wheel": "Pottery",
    # Clothing and accessories.
    "n03380867": "Footwear",
    "shoe": "Shoe",
    "sandal": "Sandal",
    "boot": "Boot",
    "sock": "Sock",
    "headdress": "Hat",
    "n03513137": "Helmet",
    "n03513376": "Helmet",
    "cowboy hat": "Cowboy Hat",
    "sombrero": "Sombrero",
    "mortarboard": "Graduation",
    "academic gown": "Graduation",
    "jean": "Jeans",
    "jersey": "Shirt",
    "sweatshirt": "Sweatshirt",
    "n02963159": "Sweater",  # cardigan: the sweater
    "suit": "Suit",
    "n03450230": "Gown",
    "skirt": "Skirt",
    "kimono": "Kimono",
    "abaya": "Robe",
    "vestment": "Robe",
    "coat": "Coat",
    "poncho": "Coat",
    "swimsuit": "Swimwear",
    "brassiere": "Bra",
    "diaper": "Diaper",
    "pajama": "Pajamas",
    "apron": "Apron",
    "military uniform": "Military Uniform",
    "necktie": "Tie",
    "bow tie": "Bow Tie",
    "scarf": "Scarf",
    "mitten": "Glove",
    "necklace": "Necklace",
    "sunglasses": "Sunglasses",
    "sunglass": "Sunglasses",
    "n03724870": "Mask",
    "gasmask": "Gas Mask",
    "ski mask": "Mask",
    "snorkel": "Snorkeling",
    "oxygen mask": None,
    "knee pad": None,
    "wig": None,
    "n03045698": None,
    "buckle": None,
    "hair slide": None,
    "n03710637": None,
    "n03710721": "Swimwear",  # maillot: tights, and a swimsuit
    # Sports, toys and music.
    "baseball": "Baseball",
    "basketball": "Basketball",
    "soccer ball": "Soccer Ball",
    "rugby ball": "Rugby Ball",
    "tennis ball": "Tennis Ball",
    "golf ball": "Golf Ball",
    "volleyball": "Volleyball",
    "ball": "Ball",
    "punching bag": "Punching Bag",
    "football helmet": "American Football",
    "weight": "Weight Lifting",
    "gymnastic apparatus": "Gymnastics",
    "racket": "Racket",
    "ski": "Ski",
    "pool table": "Pool Table",
    "puck": "Ice Hockey",
    "parachute": "Parachute",
    "teddy": "Teddy Bear",
    "pinwheel": "Toy",
    "jigsaw puzzle": "Jigsaw Puzzle",
    "crossword puzzle": None,
    "bubble": None,
    "musical instrument": "Musical Instrument",
    "guitar": "Guitar",
    "piano": "Piano",
    "violin": "Violin",
    "cello": "Cello",
    "drum": "Drum",
    "steel drum": "Drum",
    "sax": "Saxophone",
    "flute": "Flute",
    "harp": "Harp",
    "accordion": "Accordion",
    "banjo": "Banjo",
    "drumstick": None,
    # Food and drink.
    "n00021265": "Food",
    "pizza": "Pizza",
    "cheeseburger": "Burger",
    "hotdog": "Hot Dog",
    "burrito": "Burrito",
    "ice cream": "Ice Cream",
    "dessert": "Dessert",
    "bread": "Bread",
    "meat loaf": "Food",
    "consomme": "Soup",
    "carbonara": "Pasta",
    "n07579787": "Meal",
    "vegetable": "Vegetable",
    "broccoli": "Broccoli",
    "head cabbage": "Cabbage",
    "cauliflower": "Cauliflower",
    "squash": "Squash",
    "cucumber": "Cucumber",
    "artichoke": "Artichoke",
    "bell pepper": "Bell Pepper",
    "mushroom": "Mushroom",
    "edible fruit": "Fruit",
    "Granny Smith": "Apple",
    "strawberry": "Strawberry",
    "orange": "Orange",
    "lemon": "Lemon",
    "banana": "Banana",
    "pineapple": "Pineapple",
    "pomegranate": "Pomegranate",
    "beverage": "Beverage",
    "red wine": "Wine",
    "espresso": "Coffee",
    "menu": "Menu",
    # Text, tools and everyday objects.
    "comic book": "Comics",
    "book jacket": "Book",
    "scoreboard": "Scoreboard",
    "street sign": "Road Sign",
    "traffic light": "Traffic Light",
    "tool": "Tool",
    "hammer": "Hammer",
    "screwdriver": "Screwdriver",
    "power drill": "Power Drill",
    "chain saw": "Chainsaw",
    "shovel": "Shovel",
    "hatchet": "Axe",
    "lawn mower": "Lawn Mower",
    "broom": "Broom",
    "paintbrush": "Brush",
    "pen": "Pen",
    "lock": "Lock",
    "chain": "Chain",
    "knot": "Knot",
    "clock": "Clock",
    "watch": "Wristwatch",
    "hourglass": "Hourglass",
    "sundial": "Sundial",
    "stopwatch": "Stopwatch",
    "parking meter": "Parking Meter",
    "magnetic compass": "Compass",
    "binoculars": "Binoculars",
    "flagpole": "Flag",
    "stethoscope": "Stethoscope",
    "syringe": "Syringe",
    "Band Aid": "Bandage",
    "toiletry": "Cosmetics",
    "lipstick": "Lipstick",
    "spider web": "Spider Web",
    "letter opener": None,
    "nail": None,
    "screw": None,
    "safety pin": None,
    "hook": None,
    "barometer": None,
    "odometer": None,
    "scale": None,
    "rule": None,
    "loupe": None,
    "radio telescope": None,
    "solar dish": None,
    "reel": None,
    "oil filter": None,
    "lighter": None,
    "pick": None,
    "muzzle": None,
    "mousetrap": None,
    "crutch": None,
    "neck brace": None,
    "stretcher": None,
    "pole": None,
    "matchstick": None,
    "spindle": None,
    "pencil sharpener": None,
    "rubber eraser": None,
    "binder": None,
    "paddle": None,
    "plunger": "Tool",
    "carpenter's kit": "Tool",
    "swab": None,
    "toilet tissue": "Toilet Paper",
}

WNID = re.compile(r"^n\d{8}$")


def read_chains(debian: Path) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """ImageNet-1k classes in index order: (wnid, name, [(wnid, name) of itself and every
    WordNet ancestor, nearest first])."""
    data = debian / "usr/share/darknet/data"
    wnids = sorted((data / "imagenet.labels.list").read_text().split()[:1000])
    labels = (data / "9k.labels").read_text().split()
    names = (data / "9k.names").read_text().splitlines()
    parent = [int(line.split()[1]) for line in (data / "9k.tree").read_text().splitlines()]
    at = {w: i for i, w in enumerate(labels)}
    opencv = (
        (
            debian / "usr/share/doc/opencv-doc/examples/data/dnn/"
            "classification_classes_ILSVRC2012.txt"
        )
        .read_text()
        .splitlines()
    )
    out = []
    for k, wnid in enumerate(wnids):
        chain, i = [], at[wnid]
        while i != -1:
            chain.append((labels[i], names[i]))
            i = parent[i]
        if chain[0][1].lower() not in opencv[k].lower():
            raise ValueError(f"class {k}: {chain[0][1]!r} is not OpenCV's {opencv[k]!r}")
        out.append((wnid, opencv[k].split(",")[0], chain))
    return out


def resolve(chains: list[tuple[str, str, list[tuple[str, str]]]]) -> list[tuple[str | None, str]]:
    """Each class's (label or None, the synset that decided it or '')."""
    meanings: dict[str, set[str]] = {}
    for _, _, chain in chains:
        for wnid, name in chain:
            meanings.setdefault(name, set()).add(wnid)
    wrong = [
        f"{key!r} names {sorted(meanings.get(key, ()))}"
        for key in SYNSET_LABEL
        if not WNID.match(key) and len(meanings.get(key, ())) != 1
    ]
    if wrong:
        raise ValueError(
            "each name must be one synset of the chains (else write its id): " + "; ".join(wrong)
        )
    out, used = [], set()
    for _, _, chain in chains:
        hit = next(
            (
                w if w in SYNSET_LABEL else n
                for w, n in chain
                if w in SYNSET_LABEL or n in SYNSET_LABEL
            ),
            None,
        )
        used.add(hit)
        out.append(
            (None, "")
            if hit is None
            else (SYNSET_LABEL[hit], next(n for w, n in chain if hit in (w, n)))
        )
    unused = [key for key in SYNSET_LABEL if key not in used]
    if unused:
        raise ValueError(f"entries that decide no class: {unused}")
    return out


def render(
    chains: list[tuple[str, str, list[tuple[str, str]]]], resolved: list[tuple[str | None, str]]
) -> str:
    counts = Counter(label is not None for label, _ in resolved)
    lines = [
        '"""ImageNet-1k class index -> Rekognition label (None: not reported).',
        "",
        "Generated by tools/imagenet_labels.py (its docstring gives the rule); do not edit.",
        f"{counts[True]} classes map to {len({lab for lab, _ in resolved if lab})} labels; "
        f"{counts[False]} are dropped.",
        "Each line's comment: the class's name <- the WordNet synset that decided it.",
        '"""',
        "",
        "IMAGENET_LABELS: tuple[str | None, ...] = (",
    ]
    for k, ((_, name, _), (label, via)) in enumerate(zip(chains, resolved)):
        text = "None" if label is None else json.dumps(label, ensure_ascii=False)  # ruff's quotes
        lines.append(f"    {text},  # {k} {name} <- {via or '(no entry)'}")
    lines.append(")")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--debian",
        type=Path,
        required=True,
        help="darknet and opencv-doc unpacked here (bench/labels.py --fetch)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the committed module differs from what the rule gives",
    )
    args = ap.parse_args()
    chains = read_chains(args.debian)
    text = render(chains, resolve(chains))
    if args.check:
        raise SystemExit(0 if OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(text.splitlines()[3])


if __name__ == "__main__":
    main()
