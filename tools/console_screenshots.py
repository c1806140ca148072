"""Screenshots of every page of the web console, for the docs (docs/console/*.png).

Starts its own `oculi serve` (no keys, loopback, a throwaway data directory, keeping
indexed photos; one more with a key for the sign-in page) and a moto S3 server on
loopback (the test clip for the video page, a stream processor's output bucket), fills a
collection through the pages themselves, runs video jobs and a stream processor over the
test clip, and saves what headless chromium shows. Needs the test extra (selenium, moto)
and Debian's chromium and chromium-driver.

    python -m tools.console_screenshots [--out docs/console]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.chromium import headless_chromium, missing

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PEOPLE = FIXTURES / "people" / "train"
CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
TESTING = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str) -> None:
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a free loopback port, with the test clip in bucket `photos` and
    an empty bucket `events`; its URL."""
    import boto3

    url = f"http://127.0.0.1:{free_port()}"
    port = url.rpartition(":")[2]
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(url + "/moto-api/")
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **lower(TESTING))
        for bucket in ("photos", "events"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="photos", Key="hamilton.mp4", Body=CLIP.read_bytes())
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def lower(env: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in env.items()}


@contextmanager
def serving(
    tmp: Path, keys: dict[str, str] | None = None, extra: dict[str, str] | None = None
) -> Iterator[str]:
    """A fresh `oculi serve` on a free loopback port (with `extra` in its environment); its
    URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "oculi", "serve", "--port", str(port), "--lazy-models"]
    cmd += ["--data-dir", str(tmp / "data")]
    if keys:
        entries = [{"access_key_id": k, "secret_access_key": v} for k, v in keys.items()]
        (tmp / "keys.json").write_text(json.dumps({"keys": entries}))
        cmd += ["--keys-file", str(tmp / "keys.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OCULI_"))}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")  # the audit key, kept out of yours
    if "OCULI_MODEL_DIR" in os.environ:
        env["OCULI_MODEL_DIR"] = os.environ["OCULI_MODEL_DIR"]
    env.update(extra or {})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def wait(driver, css: str, attribute: str, value: str | None = None, timeout: float = 300):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        for el in d.find_elements(By.CSS_SELECTOR, css):
            got = el.get_attribute(attribute)
            if got is not None and (value is None or got == value):
                return el
        return False

    return WebDriverWait(driver, timeout).until(ready)


def shoot(driver, out: Path, name: str) -> None:
    time.sleep(0.5)  # let the last paint land
    path = out / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    why = missing()
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="oculi-shots-") as tmp:
        driver = headless_chromium(Path(tmp) / "profile", 1360, 900)
        try:
            with moto_s3() as s3, serving(Path(tmp) / "a", extra=server_env(s3)) as url:
                pages(driver, url, args.out)
            with serving(Path(tmp) / "b", keys={"viewer": "viewer-secret"}) as url:
                driver.get(url + "/console/")
                wait(driver, "#signin", "id")
                shoot(driver, args.out, "sign-in")
        finally:
            driver.quit()
    return 0


def server_env(s3: str) -> dict[str, str]:
    return {
        **TESTING,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3,
        "OCULI_KEEP_IMAGES": "1",
        "OCULI_VIDEO_FPS": "2",
        "OCULI_STREAM_FPS": "3",
        "OCULI_STREAM_FILE_DIR": str(CLIP.parent),
    }


def start_stream_processor(url: str) -> None:
    """A ConnectedHome processor over the test clip, started: its events fill the page."""
    import boto3

    client = boto3.client(
        "rekognition", endpoint_url=url, region_name="us-east-1", **lower(TESTING)
    )
    client.create_stream_processor(
        Name="stage-camera",
        Input={"KinesisVideoStream": {"Arn": CLIP.as_uri()}},
        Output={"S3Destination": {"Bucket": "events", "KeyPrefix": "stage"}},
        RoleArn="arn:aws:iam::000000000000:role/rekognition",
        Settings={"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 60.0}},
    )
    client.start_stream_processor(Name="stage-camera", StopSelector={"MaxDurationInSeconds": 60})


def pages(driver, url: str, out: Path) -> None:
    from selenium.webdriver.common.by import By

    def css(selector: str):
        return wait(driver, selector, "id") if selector.startswith("#") else None

    driver.get(url + "/console/#/try")
    css("#photo-input")
    for box in driver.find_elements(By.CSS_SELECTOR, "input[name=op]"):
        if box.is_selected() != (box.get_attribute("value") in ("faces", "labels")):
            box.click()
    driver.find_element(By.CSS_SELECTOR, "#photo-input").send_keys(str(FIXTURES / "two_people.jpg"))
    wait(driver, "#stage-canvas", "data-state", "done")
    shoot(driver, out, "try-it")

    driver.get(url + "/console/#/collections")
    name = css("#new-collection")
    name.send_keys("staff")
    name.submit()
    wait(driver, "[data-collection]", "data-collection", "staff")
    photos = [PEOPLE / p for p in ("obama/obama.jpg", "biden/biden.jpg", "rose_leslie/img1.jpg")]
    drops = driver.find_elements(By.CSS_SELECTOR, ".drop input[type=file]")
    drops[0].send_keys("\n".join(str(p) for p in photos))
    wait(driver, "#index-log", "data-state", "done")
    drops[1].send_keys(str(PEOPLE / "obama" / "obama2.jpg"))
    wait(driver, "#search-results", "data-state", "done")
    shoot(driver, out, "collections")
    wait(driver, "#faces-table img.thumb", "data-state", "done")
    driver.execute_script("document.getElementById('faces-table').scrollIntoView()")
    shoot(driver, out, "collection-faces")

    driver.get(url + "/console/#/video")
    css("#video-bucket").send_keys("photos")
    css("#video-key").send_keys("hamilton.mp4")
    driver.find_element(By.CSS_SELECTOR, "input[name=video-op][value=labels]").click()
    css("#video-start").click()
    wait(driver, "#timeline", "data-state", "done")
    css("#video-local").send_keys(str(CLIP))
    from selenium.webdriver.support.ui import WebDriverWait

    player = "document.getElementById('video-player')"
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(f"return {player}.readyState > 0"))
    driver.execute_script(f"{player}.currentTime = 4.0")
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script(f"return !{player}.seeking && {player}.readyState > 1")
    )
    driver.execute_script("document.getElementById('video-jobs').scrollIntoView()")
    shoot(driver, out, "video")

    start_stream_processor(url)
    driver.get(url + "/console/#/streams")
    # while it runs: a frame with a box, held still for the shot
    boxed = "const c = document.getElementById('live-view'); return c && c.dataset.state == 'live'"
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script(f"{boxed} && c.dataset.boxes != '[]'")
    )
    css("#live-follow").click()
    driver.execute_script("document.getElementById('live-processor').scrollIntoView()")
    shoot(driver, out, "stream-live")
    css("#live-follow").click()
    wait(driver, "#processors-table tr[data-processor]", "data-status", "STOPPED")
    driver.execute_script("window.scrollTo(0, 0)")
    wait(driver, "#stream-events tr[data-type=STREAM_PROCESSING_COMPLETE]", "data-type")
    shoot(driver, out, "streams")

    driver.get(url + "/console/#/redaction")
    css("#redaction-result")
    driver.find_element(By.CSS_SELECTOR, ".drop input[type=file]").send_keys(
        str(FIXTURES / "two_people.jpg")
    )
    wait(driver, "#redaction-result", "data-state", "done")
    shoot(driver, out, "redaction")

    driver.get(url + "/console/#/audit")
    css("#verify").click()
    wait(driver, "#verify-result", "data-ok")
    shoot(driver, out, "audit")

    driver.get(url + "/console/#/models")
    css("#models-table")
    shoot(driver, out, "models")


if __name__ == "__main__":
    sys.exit(main())
