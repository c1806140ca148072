"""Load: many concurrent boto3 clients against one oculi server, beyond its capacity.

Starts a server (default: 2 workers, 8 queued per worker), measures its capacity with one
client per worker, then drives `--overload` times as many clients, each looping over
DetectFaces, IndexFaces and SearchFacesByImage with the SDK's retries off. Prints, per
operation: served, throttled, other errors (there must be none), and p50/p99 latency of
served calls; then checks that every acknowledged IndexFaces is listed by ListFaces.

    python bench/load.py [--seconds 30] [--overload 10]
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import numpy as np
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "tests" / "fixtures" / "people" / "train").glob("*/*"))
OPS = ("DetectFaces", "IndexFaces", "SearchFacesByImage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_clients(url: str, n: int, seconds: float) -> tuple[dict, set[str]]:
    stats: dict[str, dict[str, list]] = {op: collections.defaultdict(list) for op in OPS}
    acked: set[str] = set()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client_loop(i: int) -> None:
        c = boto3.client(
            "rekognition",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="load",
            aws_secret_access_key="load",
            config=Config(retries={"max_attempts": 0}, read_timeout=120, max_pool_connections=2),
        )
        k = i
        while time.monotonic() < stop:
            op = OPS[k % 3]
            image = {"Bytes": PHOTOS[k % len(PHOTOS)].read_bytes()}
            k += 1
            t = time.perf_counter()
            try:
                if op == "DetectFaces":
                    c.detect_faces(Image=image)
                elif op == "IndexFaces":
                    r = c.index_faces(CollectionId="load", Image=image, MaxFaces=1)
                    with lock:
                        acked.update(f["Face"]["FaceId"] for f in r["FaceRecords"])
                else:
                    c.search_faces_by_image(CollectionId="load", Image=image)
                outcome = "served"
            except ClientError as e:
                outcome = e.response["Error"]["Code"]
            except Exception as e:  # noqa: BLE001 - a transport failure is a finding
                outcome = type(e).__name__
            with lock:
                stats[op][outcome].append(time.perf_counter() - t)
                if outcome == "ThrottlingException":
                    time.sleep(0.05)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats, acked


def report(title: str, stats: dict, seconds: float) -> None:
    print(f"\n{title}")
    print(
        f"{'operation':<20} {'served':>7} {'/s':>6} {'throttled':>9} {'other':>6} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    for op, by in stats.items():
        served = by.get("served", [])
        other = sum(len(v) for k, v in by.items() if k not in ("served", "ThrottlingException"))
        p50, p99 = np.percentile(np.array(served) * 1000, [50, 99]) if served else (0, 0)
        print(
            f"{op:<20} {len(served):>7} {len(served) / seconds:>6.1f} "
            f"{len(by.get('ThrottlingException', [])):>9} {other:>6} {p50:>8.0f} {p99:>8.0f}"
        )
        for k, v in by.items():
            if k not in ("served", "ThrottlingException"):
                print(f"    unexpected outcome {k}: {len(v)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--overload", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["OCULI_MATCH_FLOOR"] = "80"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oculi",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                tmp,
                "--workers",
                str(a.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(url + "/health", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.2)
            boto3.client(
                "rekognition",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="y",
            ).create_collection(CollectionId="load")
            base, acked1 = run_clients(url, a.workers, a.seconds)
            report(f"capacity: {a.workers} clients for {a.seconds:.0f} s", base, a.seconds)
            over, acked2 = run_clients(url, a.workers * a.overload, a.seconds)
            report(
                f"overload: {a.workers * a.overload} clients ({a.overload}x) for {a.seconds:.0f} s",
                over,
                a.seconds,
            )
            c = boto3.client(
                "rekognition",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="y",
            )
            listed = {
                f["FaceId"]
                for p in c.get_paginator("list_faces").paginate(CollectionId="load")
                for f in p["Faces"]
            }
            lost = (acked1 | acked2) - listed
            print(
                f"\nacknowledged IndexFaces: {len(acked1 | acked2)}, listed: {len(listed)}, "
                f"lost: {len(lost)}"
            )
            bad = sum(
                len(v)
                for s in (base, over)
                for by in s.values()
                for k, v in by.items()
                if k not in ("served", "ThrottlingException")
            )
            return 1 if lost or bad else 0
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
