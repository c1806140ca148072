"""Screenshots of every page of the web console, for the docs (docs/console/*.png).

Starts its own `oculi serve` (no keys, loopback, a throwaway data directory; one more with
a key for the sign-in page), fills a collection through the pages themselves, and saves
what headless chromium shows. Needs the test extra (selenium) and Debian's chromium and
chromium-driver.

    python tools/console_screenshots.py [--out docs/console]
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


@contextmanager
def serving(tmp: Path, keys: dict[str, str] | None = None) -> Iterator[str]:
    """A fresh `oculi serve` on a free loopback port; its URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
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
            with serving(Path(tmp) / "a") as url:
                pages(driver, url, args.out)
            with serving(Path(tmp) / "b", keys={"viewer": "viewer-secret"}) as url:
                driver.get(url + "/console/")
                wait(driver, "#signin", "id")
                shoot(driver, args.out, "sign-in")
        finally:
            driver.quit()
    return 0


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
