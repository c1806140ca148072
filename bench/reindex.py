"""How many faces `oculi reindex` finds again when the face detector changes.

Re-indexing matches each stored face to a face detected again in its kept image by box IoU
(>= 0.5, oculi/service/reindex.py). With the same detector every face is found again; a
different detector draws its boxes differently. This indexes photos with one detector
(IndexFaces' path, QualityFilter NONE, images kept), then re-indexes the collection with
each detector in turn and prints, per detector, the faces re-embedded and not found again,
and the seconds per kept image (one run; the CPU is shared, so read it as a rough figure).

Photos: dlib's labelled PASCAL VOC group photos (../shared/dev-data/dlib_faces_voc, `--data
DIR` for another dev-data folder) and the face photos of tests/fixtures (people/, the
two VOC photos, two_people.jpg, obama-480p.jpg).

    python bench/reindex.py [--index-with yunet] [--data DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from oculi.service.context import ServiceContext
from oculi.service.image_source import read_image
from oculi.service.reindex import reindex_collection
from oculi.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DETECTORS = ("yunet", "retinaface", "yunet+retinaface")


def photos(data: Path) -> list[Path]:
    found = sorted((data / "dlib_faces_voc").glob("*.jpg"))
    found += sorted((FIXTURES / "people").rglob("*.jp*g"))
    found += [FIXTURES / n for n in ("two_people.jpg", "obama-480p.jpg")]
    return sorted({p.name: p for p in found}.values())  # the VOC photos are in both


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-with", default="yunet", choices=DETECTORS)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "dev-data")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(data_dir=Path(tmp), detector=args.index_with, keep_images=True)
        cols = ServiceContext(s).collections()
        cols.create("bench")
        faces = 0
        images = photos(args.data)
        for p in images:
            data, image = read_image({"Bytes": p.read_bytes()}, ServiceContext(s).s3)
            faces += len(cols.index_faces("bench", image.rgb, None, None, "NONE", data).records)
        print(f"indexed with {args.index_with}: {faces} faces in {len(images)} photos")
        cols.store.close()
        for detector in DETECTORS:
            s.detector = detector
            again = ServiceContext(s).collections()
            t0 = time.perf_counter()
            r = reindex_collection(again, "bench")
            took = time.perf_counter() - t0
            print(
                f"re-indexed with {detector:17} {len(r.updated):3} re-embedded, "
                f"{len(r.not_found):2} not found again, "
                f"{took / max(1, r.images):.2f} s per kept image"
            )
            again.store.close()


if __name__ == "__main__":
    main()
