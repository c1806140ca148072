"""Smoke test of a running oculi, as a new user meets it: wait until it is ready, then
DetectFaces and DetectLabels on real photos through boto3. Exits 1, saying why, when
anything is off. Used by `.ci/run` right after the README's set-up, before any test extra
is installed, so it needs only what `pip install .` brings (boto3).

    python tools/smoke.py http://127.0.0.1:4566 [--pid SERVER_PID] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

import boto3

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


class SmokeError(Exception):
    pass


def _alive(pid: int | None) -> bool:
    """Whether the server process is still running (a zombie has exited)."""
    if pid is None:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_ready(endpoint: str, pid: int | None, timeout: float) -> dict:
    """GET /ready until it answers 200 (the server listens only once its models are
    loaded, which takes minutes on a first start that fetches them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise SmokeError(f"the server (pid {pid}) exited before it was ready")
        try:
            with urllib.request.urlopen(endpoint + "/ready", timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(1)
    raise SmokeError(f"{endpoint}/ready did not answer within {timeout:.0f} s")


def calls(endpoint: str) -> list[str]:
    """DetectFaces and DetectLabels through boto3; what was found, one line each."""
    rek = boto3.client(
        "rekognition",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="smoke",
        aws_secret_access_key="smoke",
    )
    people = (FIXTURES / "two_people.jpg").read_bytes()
    faces = rek.detect_faces(Image={"Bytes": people}, Attributes=["ALL"])["FaceDetails"]
    if len(faces) != 2 or not all("AgeRange" in f and f["Landmarks"] for f in faces):
        raise SmokeError(f"DetectFaces on two_people.jpg: expected 2 full faces, got {faces}")
    dog = (FIXTURES / "labels" / "dog.jpg").read_bytes()
    labels = [lb["Name"] for lb in rek.detect_labels(Image={"Bytes": dog})["Labels"]]
    if "Dog" not in labels:
        raise SmokeError(f"DetectLabels on labels/dog.jpg: no Dog among {labels}")
    return [
        f"DetectFaces two_people.jpg: {len(faces)} faces, ages "
        + ", ".join(f"{f['AgeRange']['Low']}-{f['AgeRange']['High']}" for f in faces),
        f"DetectLabels labels/dog.jpg: {', '.join(labels[:8])}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("endpoint", help="the server's URL, e.g. http://127.0.0.1:4566")
    p.add_argument("--pid", type=int, help="the server's process id: fail at once if it dies")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for /ready")
    args = p.parse_args(argv)
    try:
        started = time.monotonic()
        ready = wait_ready(args.endpoint.rstrip("/"), args.pid, args.timeout)
        print(f"smoke: ready after {time.monotonic() - started:.1f} s: {ready}")
        for line in calls(args.endpoint.rstrip("/")):
            print(f"smoke: {line}")
    except Exception as e:  # any failure, boto3's included, fails the smoke test loudly
        print(f"smoke: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("smoke: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
