"""`oculi celebrities add|list|remove`: the operator's celebrity collection (see
docs/celebrities.md), written straight into the data store like `oculi import`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def _cmd(args: argparse.Namespace) -> int:
    from oculi.cli import _lock, _settings
    from oculi.errors import OculiError
    from oculi.models.fetch import ModelFetchError
    from oculi.service import celebrities as celeb
    from oculi.service.context import ServiceContext
    from oculi.store.faces import Celebrity
    from oculi.vision.decode import decode

    settings = _settings(args)
    # add and remove change the collection and its vector index, as `oculi import` does:
    # not while a server (or another command) holds the data directory.
    if args.action != "list" and not _lock(settings.data_dir):
        return 1
    ctx = ServiceContext(settings)
    try:
        users = ctx.users()
        cid = args.collection
        if args.action == "list":
            for c in users.store.celebrities(cid):
                n = len(users.store.list_faces(cid, 0, celeb.MAX_FACES_PER_USER, None, c.user_id))
                urls = " ".join(c.urls)
                print(f"{c.user_id}\t{c.name}\t{c.known_gender or '-'}\t{n} faces\t{urls}")
            return 0
        if args.action == "remove":
            if not args.id:
                print("error: remove needs --id", file=sys.stderr)
                return 2
            n = celeb.remove(users, cid, args.id)
            print(f"{args.id}: removed with its {n} faces")
            return 0
        if not args.name or not args.photos:
            print("error: add needs --name and at least one photo", file=sys.stderr)
            return 2
        photos = []
        for path in args.photos:
            data = Path(path).read_bytes()
            photos.append((decode(data).rgb, data))
        who = Celebrity(
            args.id or celeb.new_celebrity_id(), args.name, tuple(args.url), args.gender
        )
        faces, problems = celeb.enrol(users, cid, who, photos)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        if not faces:
            print(f"error: no face of {who.name} was enrolled", file=sys.stderr)
            return 1
        print(f"{who.user_id}\t{who.name}: {len(faces)} faces enrolled in {cid}")
        return 0
    except (OculiError, ModelFetchError, OSError) as e:
        print(f"error: {getattr(e, 'message', e)}", file=sys.stderr)
        return 1


def register(
    sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the `celebrities` command to the `oculi` parser."""
    cp = sub.add_parser(
        "celebrities",
        help="enrol public figures for RecognizeCelebrities (serve --celebrity-collection)",
    )
    cp.add_argument("action", choices=["add", "list", "remove"])
    cp.add_argument("photos", nargs="*", help="add: photos of the person (largest face used)")
    cp.add_argument("--collection", required=True, help="the celebrity collection")
    cp.add_argument("--name", help="add: the name RecognizeCelebrities answers")
    cp.add_argument("--url", action="append", default=[], help="add: a URL about them (repeat)")
    cp.add_argument(
        "--gender",
        choices=["Male", "Female", "Nonbinary", "Unlisted"],
        help="add: their publicly known gender (KnownGender)",
    )
    cp.add_argument(
        "--id",
        help="the celebrity id (letters and digits). add: default random; an existing id "
        "adds photos and replaces the facts. remove: the one to delete, with its faces",
    )
    cp.add_argument("--data-dir", help="the server's data directory")
    cp.add_argument("--store-url", help="postgresql://... when the server uses PostgreSQL")
    common(cp)
    cp.set_defaults(func=_cmd)
