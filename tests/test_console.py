"""The web console (/console): its pages served by oculi itself with a strict policy, its
data routes admitted, authorized and audited like the API, and the pages themselves driven
in Debian's chromium (headless, through Selenium, offline: Selenium Manager is never
asked to download anything)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import FIXTURES, REGION, Server, fixture_bytes, oculi_cli

from oculi.api.console import audit_page, static_files, without_credentials
from oculi.streams.events import EventLog, latest_events
from tools.chromium import headless_chromium, missing

PEOPLE = FIXTURES / "people"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def signed_get(server: Server, path: str, key: str, secret: str) -> tuple[int, dict]:
    req = AWSRequest("GET", server.url + path)
    SigV4Auth(Credentials(key, secret), "oculi", REGION).add_auth(req)
    status, _, body = get(req.url, dict(req.headers))
    return status, json.loads(body)


# ---- served pages and data routes (no browser) ----


def test_pages_are_served_with_a_strict_policy(server: Server) -> None:
    status, headers, body = get(server.url + "/console/")
    assert status == 200 and b'data-auth="none"' in body
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert headers["x-frame-options"] == "DENY"
    for name in static_files():
        status, headers, body = get(f"{server.url}/console/{name}")
        assert status == 200 and body, name
        assert b"<script>" not in body  # no inline script: index.html loads app.js
    # only the files listed at start-up: never a path made from the request
    for bad in ("..%2fserver.py", "..%2F..%2Fpyproject.toml", "nope.js", "%2e%2e"):
        assert get(f"{server.url}/console/{bad}")[0] == 404, bad


def test_every_asset_the_pages_load_is_oculis_own() -> None:
    """Offline: the page loads only /console/ files, the modules import only each other,
    and nothing names another host (the SVG's XML namespace is a name, not a fetch)."""
    files = static_files()
    html = files["index.html"].read_text()
    for ref in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert ref.startswith(("/console/", "#")), ref
    for path in files.values():
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://", text), path.name
        for module in re.findall(r'from "([^"]+)"', text):
            assert module.startswith("./") and module[2:] in files, (path.name, module)


def test_data_routes_need_a_signature_and_a_permission(tmp_path: Path) -> None:
    keys = [
        {"access_key_id": "admin", "secret_access_key": "admin-secret"},
        {"access_key_id": "viewer", "secret_access_key": "viewer-secret", "allow": ["Detect*"]},
    ]
    srv = Server(tmp_path, keys=keys)
    try:
        assert b'data-auth="keys"' in get(srv.url + "/console/")[2]  # the page needs no key
        status, _, body = get(srv.url + "/oculi/console/audit")
        assert status == 403 and json.loads(body)["__type"] == "MissingAuthenticationTokenException"
        assert signed_get(srv, "/oculi/console/health", "admin", "wrong")[0] == 403
        status, health = signed_get(srv, "/oculi/console/health", "admin", "admin-secret")
        assert status == 200 and health["Auth"] == "keys" and health["Capacity"] >= 1
        status, doc = signed_get(srv, "/oculi/console/audit?limit=10", "viewer", "viewer-secret")
        assert status == 400 and doc["__type"] == "AccessDeniedException"
        for path in (
            "stream-events",
            "stream-frame?name=p",
            "face-image?collection=c&face=f",
            "collection?collection=c",
        ):
            status, doc = signed_get(srv, "/oculi/console/" + path, "viewer", "viewer-secret")
            assert status == 400 and doc["__type"] == "AccessDeniedException", path
        status, doc = signed_get(srv, "/oculi/console/collection", "admin", "admin-secret")
        assert status == 400 and doc["__type"] == "InvalidParameterException"
        status, doc = signed_get(
            srv, "/oculi/console/face-image?collection=c&face=f", "admin", "admin-secret"
        )
        assert status == 400 and doc["__type"] == "ResourceNotFoundException"
        status, models = signed_get(srv, "/oculi/console/models", "admin", "admin-secret")
        assert status == 200 and all(m["licence"] for m in models["Models"])
        status, page = signed_get(srv, "/oculi/console/audit?limit=10", "admin", "admin-secret")
        assert status == 200
        # the refusal above is in the log
        ops = [(r["operation"], r.get("access_key"), r["outcome"]) for r in page["Records"]]
        assert ("ListAuditRecords", "viewer", "AccessDeniedException") in ops
        status, v = signed_get(srv, "/oculi/console/audit/verify", "admin", "admin-secret")
        assert status == 200 and v["Ok"] and v["Records"] >= 2
        assert signed_get(srv, "/oculi/console/audit?limit=x", "admin", "admin-secret")[0] == 400
        # reading the log is itself recorded, with who read it; the export is one JSON per line
        req = AWSRequest("GET", srv.url + "/oculi/console/audit?format=jsonl")
        SigV4Auth(Credentials("admin", "admin-secret"), "oculi", REGION).add_auth(req)
        status, headers, body = get(req.url, dict(req.headers))
        assert status == 200 and "attachment" in headers["content-disposition"]
        exported = [json.loads(line) for line in body.decode().splitlines()]
        assert {"ListAuditRecords", "DescribeAuditLog"} <= {r["operation"] for r in exported}
        assert all(
            r["access_key"] == "admin" for r in exported if r["operation"] == "DescribeAuditLog"
        )
    finally:
        srv.stop()


def test_the_pages_ship_in_the_package() -> None:
    """`pip install .` (not editable) installs the pages: package data covers every file."""
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "console/static/*" in config["package-data"]["oculi"]
    static = root / "oculi" / "console" / "static"
    assert all(p.is_file() for p in static.iterdir())  # the glob does not recurse
    assert set(static_files()) == {p.name for p in static.iterdir()}


def test_audit_pages_go_newest_first_and_filter() -> None:
    records = [
        {"seq": i, "operation": "IndexFaces" if i % 2 else "SearchFacesByImage", "outcome": "OK"}
        for i in range(1, 11)
    ]
    page = audit_page(iter(records), {}, None, 3)
    assert [r["seq"] for r in page["Records"]] == [10, 9, 8] and page["NextBefore"] == 8
    page = audit_page(iter(records), {}, 8, 3)
    assert [r["seq"] for r in page["Records"]] == [7, 6, 5]
    page = audit_page(iter(records), {"operation": "IndexFaces"}, 4, 3)
    assert [r["seq"] for r in page["Records"]] == [3, 1] and page["NextBefore"] is None
    assert page["Matching"] == 2


def test_latest_events_are_read_from_the_end_of_the_log(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    for i in range(300):
        log.append("a" if i % 3 else "b", "s", "STATUS", {"Status": "RUNNING", "i": i})
    newest = latest_events(tmp_path, None, 5)
    assert [e["event"]["i"] for e in newest] == [299, 298, 297, 296, 295]
    only_b = latest_events(tmp_path, "b", 3)
    assert [e["event"]["i"] for e in only_b] == [297, 294, 291]
    # only the tail is read: a small budget finds only the last few lines
    assert 0 < len(latest_events(tmp_path, None, 300, max_bytes=1000)) < 20
    assert latest_events(tmp_path / "none", None, 5) == []


def test_urls_in_events_lose_their_credentials() -> None:
    event = {"StatusMessage": "Reconnecting to rtsp://admin:pw@10.0.0.2:554/s?token=t0k (down)"}
    shown = json.dumps(without_credentials([event]))
    assert "pw" not in shown and "t0k" not in shown and "rtsp://***@10.0.0.2:554/s" in shown


# ---- in the browser ----


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Skipped with the reason when chromium is missing here; in CI (CI=true) a failure."""
    why = missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    profile = Path(tempfile.mkdtemp(prefix="oculi-chromium-"))
    driver = headless_chromium(profile)
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, css: str, attribute: str, value: str | None = None, timeout: float = 180):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        for el in d.find_elements(By.CSS_SELECTOR, css):
            got = el.get_attribute(attribute)
            if got is not None and (value is None or got == value):
                return el
        return None

    def ready(d):
        el = found(d)
        if el is not None:
            return el
        error = d.find_elements(By.CSS_SELECTOR, "#error:not([hidden])")
        # the page may have shown the awaited element (the error box itself, say) between
        # the two looks: look once more before calling the error a failure
        el = found(d)
        if el is not None:
            return el
        if error:
            raise AssertionError("the page shows an error: " + error[0].text)
        return False

    # a page that refreshes itself (stream processors) may replace an element between the
    # look and the read of its attribute: look again
    from selenium.common.exceptions import StaleElementReferenceException

    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(ready)


def by_css(driver, css: str, timeout: float = 30):
    """The element, once the page (which renders after its first calls) shows it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    return WebDriverWait(driver, timeout).until(located)


def visit(driver, url: str) -> None:
    """Load `url` afresh (going to the same URL with only a #page would keep the old page)."""
    driver.get("about:blank")
    driver.get(url)


def choose_only(driver, ops: set[str]) -> None:
    from selenium.webdriver.common.by import By

    by_css(driver, "input[name=op]")  # the page renders after its first calls
    for box in driver.find_elements(By.CSS_SELECTOR, "input[name=op]"):
        if box.is_selected() != (box.get_attribute("value") in ops):
            box.click()
    chosen = {
        box.get_attribute("value")
        for box in driver.find_elements(By.CSS_SELECTOR, "input[name=op]")
        if box.is_selected()
    }
    assert chosen == ops


def test_try_it_draws_the_boxes_the_api_answers(browser, server: Server, client) -> None:
    photo = FIXTURES / "two_people.jpg"
    visit(browser, server.url + "/console/#/try")
    choose_only(browser, {"faces"})
    by_css(browser, "#photo-input").send_keys(str(photo))
    canvas = wait_for(browser, "#stage-canvas", "data-state", "done")
    drawn = json.loads(canvas.get_attribute("data-boxes"))
    width, height = (
        int(canvas.get_attribute("data-width")),
        int(canvas.get_attribute("data-height")),
    )
    answer = client.detect_faces(Image={"Bytes": photo.read_bytes()}, Attributes=["ALL"])
    faces = [d for d in drawn if d["kind"] == "face"]
    assert len(faces) == len(answer["FaceDetails"]) >= 2
    for d, f in zip(faces, answer["FaceDetails"]):
        b = f["BoundingBox"]
        assert d["box"] == pytest.approx(b, abs=1e-6)
        px = [b["Left"] * width, b["Top"] * height, b["Width"] * width, b["Height"] * height]
        assert d["px"] == pytest.approx(px, abs=1e-3)
    landmarks = [d for d in drawn if d["kind"] == "landmark"]
    assert len(landmarks) == sum(len(f["Landmarks"]) for f in answer["FaceDetails"])
    results = by_css(browser, "#results")
    assert "detect_faces" in results.get_attribute("textContent")
    assert "aws rekognition detect-faces" in results.get_attribute("textContent")
    raw = json.loads(by_css(browser, "#pane-faces pre.json").get_attribute("textContent"))
    assert len(raw["FaceDetails"]) == len(answer["FaceDetails"])
    # hovering a face shows its details
    from selenium.webdriver.common.action_chains import ActionChains

    scale = canvas.size["width"] / width
    x, y, w, h = faces[0]["px"]
    ActionChains(browser).move_to_element_with_offset(
        canvas,
        int((x + w / 2) * scale - canvas.size["width"] / 2),
        int((y + h / 2) * scale - canvas.size["height"] / 2),
    ).perform()
    tip = by_css(browser, ".stage .tip:not([hidden])")
    assert tip.text.startswith("Face 1") and "age" in tip.text


def test_try_it_runs_every_operation(browser, server: Server, client) -> None:
    """All seven choices at once on one photo: each answers in its own tab, without an
    error, and what is drawn is what the API answered (text lines, plates)."""
    from selenium.webdriver.common.by import By

    photo = FIXTURES / "two_people.jpg"
    visit(browser, server.url + "/console/#/try")
    choose_only(browser, {"faces", "compare", "labels", "text", "plates", "moderation", "ppe"})
    browser.find_elements(By.CSS_SELECTOR, ".drop input[type=file]")[1].send_keys(
        str(FIXTURES / "obama-480p.jpg")
    )
    by_css(browser, "#photo-input").send_keys(str(photo))
    canvas = wait_for(browser, "#stage-canvas", "data-state", "done", timeout=600)
    panes = browser.find_elements(By.CSS_SELECTOR, "#results [role=tabpanel]")
    assert len(panes) == 7
    for pane in panes:
        assert not pane.find_elements(By.CSS_SELECTOR, ".bad"), pane.get_attribute("textContent")
    drawn = json.loads(canvas.get_attribute("data-boxes"))
    lines = [
        t
        for t in client.detect_text(Image={"Bytes": photo.read_bytes()})["TextDetections"]
        if t["Type"] == "LINE"
    ]
    assert [d["label"] for d in drawn if d["kind"] == "text"] == [t["DetectedText"] for t in lines]
    plates = json.loads(by_css(browser, "#pane-plates pre.json").get_attribute("textContent"))
    assert len([d for d in drawn if d["kind"] == "plate"]) == len(plates["Plates"])
    compared = json.loads(by_css(browser, "#pane-compare pre.json").get_attribute("textContent"))
    assert compared["FaceMatches"] and [d for d in drawn if d["kind"] == "compare"]


def test_try_it_explains_a_refused_photo(browser, server: Server, tmp_path: Path) -> None:
    """A file the browser shows but oculi cannot read (a GIF): the page says so in words."""
    from PIL import Image

    gif = tmp_path / "anim.gif"
    Image.new("RGB", (64, 64), "red").save(gif)
    visit(browser, server.url + "/console/#/try")
    choose_only(browser, {"faces"})
    by_css(browser, "#photo-input").send_keys(str(gif))
    wait_for(browser, "#stage-canvas", "data-state", "done")
    failure = by_css(browser, "#pane-faces .bad").text
    assert "not a photo oculi can read" in failure and "InvalidImageFormatException" in failure


def test_collections_index_and_search_then_audit_verifies(browser, server: Server, client) -> None:
    visit(browser, server.url + "/console/#/collections")
    name = by_css(browser, "#new-collection")
    name.send_keys("console-people")
    name.submit()
    wait_for(browser, "[data-collection]", "data-collection", "console-people")
    photos = [PEOPLE / "train/obama/obama.jpg", PEOPLE / "train/biden/biden.jpg"]
    browser.find_elements("css selector", ".drop input[type=file]")[0].send_keys(
        "\n".join(str(p) for p in photos)
    )
    log = wait_for(browser, "#index-log", "data-state", "done")
    assert log.get_attribute("data-faces") == "2", log.text
    assert by_css(browser, "#index-progress").get_attribute("value") == "2"
    rows = browser.find_elements("css selector", "#faces-table tbody tr")
    assert len(rows) == 2 and "obama.jpg" in by_css(browser, "#faces-table").text
    browser.find_elements("css selector", ".drop input[type=file]")[1].send_keys(
        str(PEOPLE / "train/obama/obama2.jpg")
    )
    out = wait_for(browser, "#search-results", "data-state", "done")
    assert out.get_attribute("data-matches") == "1", out.text
    row = by_css(browser, "#search-results tr[data-similarity]")
    assert float(row.get_attribute("data-similarity")) >= 80 and "obama.jpg" in row.text
    assert "identity floor" in out.text
    # a user made through the API, with their face, as the page shows it
    faces = client.list_faces(CollectionId="console-people")["Faces"]
    obama = next(f["FaceId"] for f in faces if f["ExternalImageId"] == "obama.jpg")
    client.create_user(CollectionId="console-people", UserId="barack")
    client.associate_faces(CollectionId="console-people", UserId="barack", FaceIds=[obama])
    visit(browser, server.url + "/console/#/collections")
    by_css(browser, "#collection-list")
    browser.find_element("xpath", "//ul[@id='collection-list']//button[.='console-people']").click()
    user = by_css(browser, "#users-table button")
    assert user.text == "barack"
    user.click()
    wait_for(browser, "#user-faces[data-user=barack]", "data-user")
    assert obama in by_css(browser, "#user-faces").text
    delete = by_css(browser, "#delete-collection")
    delete.click()
    assert "Really delete console-people" in delete.text
    delete.click()
    wait_for(browser, "#collection-detail", "id")
    by_css(browser, "#collection-list")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: "console-people" not in by_css(d, "#collection-list").text
    )
    assert "was deleted" in by_css(browser, "#collection-detail").text

    visit(browser, server.url + "/console/#/audit")
    wait_for(browser, "#audit-table tbody tr[data-seq]", "data-seq")
    assert "SearchFacesByImage" in by_css(browser, "#audit-table").text
    by_css(browser, "#verify").click()
    verdict = wait_for(browser, "#verify-result", "data-ok")
    assert verdict.get_attribute("data-ok") == "true", verdict.text


def test_collections_come_a_page_at_a_time(browser, server: Server, client) -> None:
    names = [f"console-page-{i:02d}" for i in range(21)]
    for name in names:
        client.create_collection(CollectionId=name)
    try:
        visit(browser, server.url + "/console/#/collections")
        by_css(browser, "#collection-list button")
        first = [b.text for b in browser.find_elements("css selector", "#collection-list button")]
        assert len(first) == 20
        browser.find_element("xpath", "//button[contains(., 'Next')]").click()
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser, 30).until(lambda d: "Page 2" in by_css(d, ".pager").text)
        second = [b.text for b in browser.find_elements("css selector", "#collection-list button")]
        api = client.list_collections(MaxResults=20)
        assert first == api["CollectionIds"]
        api = client.list_collections(MaxResults=20, NextToken=api["NextToken"])
        assert second == api["CollectionIds"]
    finally:
        for name in names:
            client.delete_collection(CollectionId=name)


def test_sign_in_with_keys_and_signed_calls(browser, tmp_path: Path) -> None:
    srv = Server(tmp_path, keys={"console": "right-secret"})
    try:
        visit(browser, srv.url + "/console/#/models")
        by_css(browser, "#signin")  # nothing but the sign-in form without a key
        form = browser.find_elements("css selector", "form.signin input")
        form[0].send_keys("console")
        form[1].send_keys("wrong-secret")
        by_css(browser, "#signin").click()
        error = wait_for(browser, "#error", "data-code", "InvalidSignatureException", timeout=30)
        assert "secret access key does not match" in error.text
        form = browser.find_elements("css selector", "form.signin input")
        browser.execute_script("arguments[0].value = ''", form[1])  # clear() can leave text
        form[1].send_keys("right-secret")
        assert form[1].get_attribute("value") == "right-secret"
        by_css(browser, "#signin").click()
        table = wait_for(browser, "#models-table", "id", timeout=30)
        assert "retinaface" in table.text.lower() or len(table.text) > 100
        assert "console" in by_css(browser, "#who").text
        # a Rekognition call and a native call, both signed in the page
        visit(browser, srv.url + "/console/#/try")
        choose_only(browser, {"faces"})
        by_css(browser, "#photo-input").send_keys(str(FIXTURES / "obama-480p.jpg"))
        canvas = wait_for(browser, "#stage-canvas", "data-state", "done")
        assert any(d["kind"] == "face" for d in json.loads(canvas.get_attribute("data-boxes")))
        visit(browser, srv.url + "/console/#/redaction")
        by_css(browser, "#redaction-result")
        by_css(browser, ".drop input[type=file]").send_keys(str(FIXTURES / "obama-480p.jpg"))
        wait_for(browser, "#redaction-result", "data-state", "done")
        size = browser.execute_script(
            "return document.getElementById('redaction-image').naturalWidth"
        )
        assert size == 480 or size > 0
    finally:
        srv.stop()


def test_a_loopback_page_passes_the_guard_and_others_do_not(server: Server) -> None:
    body = json.dumps({"MaxResults": 1}).encode()
    for origin, status in ((server.url, 200), ("http://evil.example", 403)):
        req = urllib.request.Request(
            server.url + "/",
            data=body,
            headers={
                "Origin": origin,
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "RekognitionService.ListCollections",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                got = r.status
        except urllib.error.HTTPError as e:
            got = e.code
        assert got == status, origin
    assert fixture_bytes("obama-480p.jpg")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_colours_keep_their_contrast() -> None:
    """WCAG AA (4.5:1) for every text colour of the stylesheet on the backgrounds it sits on."""
    css = static_files()["console.css"].read_text()
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [
        (var["ink"], var["bg"]),
        (var["ink"], var["panel"]),
        (var["muted"], var["panel"]),
        (var["muted"], var["bg"]),
        (var["accent"], var["panel"]),
        (var["accent-ink"], var["accent"]),
        (var["bad"], "#fde8e8"),
        (var["good"], "#dcefe0"),
        (var["warn"], "#fff4dc"),
        ("#ffffff", "#10243e"),  # the header
        ("#e9eef5", "#10243e"),  # code blocks
    ]
    for fg, bg in pairs:
        assert contrast(fg, bg) >= 4.5, (fg, bg, contrast(fg, bg))
    # the video timeline's segments against their track (WCAG's 3:1 for what is not text)
    track = re.search(r"\.track \.bar \{[^}]*background: (#[0-9a-f]{6})", css).group(1)
    segments = re.findall(r"\.track \.seg(?:\.\w+)? \{[^}]*background: ([^;]+);", css)
    assert len(segments) == 4
    for colour in segments:
        colour = var[colour[6:-1]] if colour.startswith("var(") else colour
        assert contrast(colour, track) >= 3, (colour, contrast(colour, track))


def test_every_page_is_labelled_and_works_from_the_keyboard(browser, server: Server) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    unlabelled = """
        return [...document.querySelectorAll('input, select, textarea, button')]
          .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.textContent.trim())
          .map(el => el.outerHTML);"""
    for page, ready in (
        ("try", "#photo-input"),
        ("collections", "#new-collection"),
        ("video", "#video-start"),
        ("streams", "#stream-events[data-state=done]"),
        ("redaction", "#redaction-result"),
        ("audit", "#verify"),
        ("models", "#models-table"),
    ):
        visit(browser, f"{server.url}/console/#/{page}")
        by_css(browser, ready)
        assert browser.execute_script(unlabelled) == [], page
    # from the first stop of a page (its skip link), Tab reaches the navigation, Enter follows it
    visit(browser, server.url + "/console/#/try")
    by_css(browser, "#photo-input")
    browser.execute_script("document.querySelector('.skip').focus()")
    for _ in range(8):
        active = browser.switch_to.active_element
        if active.get_attribute("data-page") == "audit":
            break
        ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element.get_attribute("data-page") == "audit"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    by_css(browser, "#verify")
    assert browser.current_url.endswith("#/audit")


# ---- video, stream processors, models and health, kept faces ----

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
AWS_TESTING = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def moto_client(service: str, url: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_video_job_runs_to_its_timeline(browser, tmp_path: Path, moto_s3: str) -> None:
    """Faces, tracked persons and face search on a real clip read from a real S3 server
    (moto): the page follows the jobs to SUCCEEDED and draws one row a person index, one
    for the faces and one a person named, as many detections as the API answers for those
    jobs; a local copy of the clip plays and a segment seeks it."""
    moto_client("s3", moto_s3).put_object(Bucket="photos", Key="clip.mp4", Body=CLIP.read_bytes())
    env = {
        "AWS_ENDPOINT_URL_S3": moto_s3,
        "OCULI_VIDEO_FPS": "2",
        "OCULI_MATCH_FLOOR": "80",
        **AWS_TESTING,
    }
    srv = Server(tmp_path, env=env)
    try:
        client = srv.client()
        client.create_collection(CollectionId="cast")
        for name in ("lin-manuel-miranda", "alex-lacamoire"):
            still = (FIXTURES / f"video/{name}.jpg").read_bytes()
            client.index_faces(
                CollectionId="cast", Image={"Bytes": still}, ExternalImageId=name, MaxFaces=1
            )
        visit(browser, srv.url + "/console/#/video")
        by_css(browser, "#video-bucket").send_keys("photos")
        by_css(browser, "#video-key").send_keys("missing.mp4")
        by_css(browser, "#video-start").click()  # no such object: said in words
        error = wait_for(browser, "#error", "data-code", "InvalidS3ObjectException")
        assert "could not read that S3 object" in error.text
        by_css(browser, "#video-key").clear()
        by_css(browser, "#video-key").send_keys("clip.mp4")
        by_css(browser, "input[name=video-op][value=search]").click()
        by_css(browser, "#video-collection").send_keys("cast")
        by_css(browser, "#video-start").click()
        wait_for(browser, "#timeline", "data-state", "done", timeout=900)
        from selenium.webdriver.common.by import By

        jobs = {
            row.get_attribute("data-kind"): row
            for row in browser.find_elements(By.CSS_SELECTOR, "#video-jobs tbody tr")
        }
        assert set(jobs) == {"faces", "persons", "search"}
        assert all(r.get_attribute("data-status") == "SUCCEEDED" for r in jobs.values())
        ids = {k: r.find_element(By.CSS_SELECTOR, "code").text for k, r in jobs.items()}
        faces = client.get_face_detection(JobId=ids["faces"], MaxResults=1000)
        persons = client.get_person_tracking(JobId=ids["persons"], MaxResults=1000)
        tracks = {
            t.get_attribute("data-label"): int(t.get_attribute("data-count"))
            for t in browser.find_elements(By.CSS_SELECTOR, "#timeline .track[data-kind]")
        }
        assert faces["Faces"] and tracks["Faces"] == len(faces["Faces"])
        indexes: dict[int, int] = {}
        for p in persons["Persons"]:
            indexes[p["Person"]["Index"]] = indexes.get(p["Person"]["Index"], 0) + 1
        assert indexes and {f"Person #{i}": n for i, n in indexes.items()} == {
            k: v for k, v in tracks.items() if k.startswith("Person #")
        }
        named: dict[str, int] = {}
        for p in client.get_face_search(JobId=ids["search"], MaxResults=1000)["Persons"]:
            if p.get("FaceMatches"):
                who = p["FaceMatches"][0]["Face"]["ExternalImageId"]
                named[f"Match: {who}"] = named.get(f"Match: {who}", 0) + 1
        assert set(named) == {"Match: lin-manuel-miranda", "Match: alex-lacamoire"}
        assert named == {k: v for k, v in tracks.items() if k.startswith("Match: ")}
        duration = faces["VideoMetadata"]["DurationMillis"]
        assert f"{duration / 1000:.1f} s" in by_css(browser, "#video-meta").text
        # a segment is a button: choosing it says what was found there
        segment = by_css(browser, "#timeline .track[data-kind=persons] .seg")
        segment.click()
        assert by_css(browser, "#timeline-detail").text.startswith("Person #")
        # the same file from this computer plays beside the timeline
        by_css(browser, "#video-local").send_keys(str(CLIP))
        from selenium.webdriver.support.ui import WebDriverWait

        played = WebDriverWait(browser, 60).until(
            lambda d: d.execute_script(
                "const v = document.getElementById('video-player');"
                "return v.readyState > 0 ? v.duration : null;"
            )
        )
        assert played > 0  # the container's length, audio included: not always the video's
        segment = browser.find_elements(By.CSS_SELECTOR, "#timeline .seg")[-1]
        segment.click()  # seeks the video to where the segment begins
        WebDriverWait(browser, 30).until(
            lambda d: (
                abs(
                    d.execute_script("return document.getElementById('video-player').currentTime")
                    * 1000
                    - int(segment.get_attribute("data-from"))
                )
                < 50
            )
        )
    finally:
        srv.stop()


def test_stream_processor_events_are_shown_without_credentials(
    browser, tmp_path: Path, moto_s3: str
) -> None:
    """A ConnectedHome processor over the clip (file://) runs to its end: the page shows it
    STOPPED and its events, the same the log holds; another, on a camera URL with a
    password, is shown without it, in the page and in the console's event route."""
    moto_client("s3", moto_s3).create_bucket(Bucket="console-events")
    env = {
        "AWS_ENDPOINT_URL_S3": moto_s3,
        "OCULI_STREAM_FPS": "3",
        "OCULI_STREAM_FILE_DIR": str(CLIP.parent.resolve()),
        **AWS_TESTING,
    }
    secret = "s3cr3t-pa55"
    srv = Server(tmp_path, env=env)
    try:
        client = srv.client()

        def request(name: str, arn: str) -> dict:
            return {
                "Name": name,
                "Input": {"KinesisVideoStream": {"Arn": arn}},
                "Output": {"S3Destination": {"Bucket": "console-events"}},
                "RoleArn": "arn:aws:iam::000000000000:role/rekognition",
                "Settings": {"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 60.0}},
            }

        client.create_stream_processor(**request("stage", CLIP.resolve().as_uri()))
        client.create_stream_processor(
            **request("porch", f"rtsp://admin:{secret}@127.0.0.1:9/stream1")
        )
        client.start_stream_processor(Name="stage", StopSelector={"MaxDurationInSeconds": 60})
        client.start_stream_processor(Name="porch", StopSelector={"MaxDurationInSeconds": 120})
        visit(browser, srv.url + "/console/#/streams")
        # the page refreshes itself: the processor reaches STOPPED and its events show
        wait_for(browser, "#processors-table tr[data-processor=stage]", "data-status", "STOPPED")
        wait_for(browser, "#stream-events tr[data-type=LABEL_DETECTED]", "data-processor", "stage")
        wait_for(browser, "#stream-events tr[data-type=STREAM_PROCESSING_COMPLETE]", "data-type")
        assert client.describe_stream_processor(Name="stage")["Status"] == "STOPPED"
        browser.find_element("css selector", "#events-live").click()  # hold the table still
        shown = [
            tuple(row)
            for row in browser.execute_script(
                "return [...document.querySelectorAll('#stream-events tbody tr[data-type]')]"
                ".map(r => [r.dataset.processor, r.dataset.type]);"
            )
        ]
        log = [
            json.loads(line)
            for line in (srv.data_dir / "streams" / "events.jsonl").read_text().splitlines()
        ]
        newest = [(e["processor"], e["type"]) for e in log][::-1]
        # the page shows a run of the log, newest first (what came after its last look aside)
        assert len(shown) == min(50, len(log)) and any(
            newest[i : i + len(shown)] == shown for i in range(len(newest))
        )
        page = browser.execute_script("return document.querySelector('main').textContent")
        assert "rtsp://***@127.0.0.1:9/stream1" in page and secret not in page
        status, _, body = get(srv.url + "/oculi/console/stream-events?limit=200")
        events = json.loads(body)
        assert status == 200 and secret not in json.dumps(events)
        assert {e["processor"] for e in events["Events"]} == {"stage", "porch"}
        client.stop_stream_processor(Name="porch")
    finally:
        srv.stop()


def still_clip(path: Path, photo: Path, seconds: int, fps: int = 5) -> None:
    """A video of `photo` held still (MJPEG: every frame the same bytes, so every
    analysis of it finds the same boxes)."""
    import cv2

    bgr = cv2.imread(str(photo))
    height, width = bgr.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for _ in range(seconds * fps):
        writer.write(bgr)
    writer.release()


def test_a_running_processor_is_shown_live_with_its_boxes(
    browser, tmp_path: Path, moto_s3: str
) -> None:
    """A ConnectedHome processor over a still clip of two people (file://) runs while the
    page is open: its live view draws the latest frame, downscaled, with each person's box
    where the console's frame route puts it; each frame shown is audited, none is written;
    a processor not running says so."""
    moto_client("s3", moto_s3).create_bucket(Bucket="console-live")
    clips = tmp_path / "clips"
    clips.mkdir()
    still_clip(clips / "door.avi", FIXTURES / "two_people.jpg", seconds=120)
    env = {
        "AWS_ENDPOINT_URL_S3": moto_s3,
        "OCULI_STREAM_FPS": "2",
        "OCULI_STREAM_FILE_DIR": str(clips.resolve()),
        **AWS_TESTING,
    }
    srv = Server(tmp_path, env=env)
    try:
        client = srv.client()
        for name in ("door", "idle"):
            client.create_stream_processor(
                Name=name,
                Input={"KinesisVideoStream": {"Arn": (clips / "door.avi").resolve().as_uri()}},
                Output={"S3Destination": {"Bucket": "console-live"}},
                RoleArn="arn:aws:iam::000000000000:role/rekognition",
                Settings={"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 60.0}},
            )
        client.start_stream_processor(Name="door", StopSelector={"MaxDurationInSeconds": 120})
        visit(browser, srv.url + "/console/#/streams")
        # the page picks the running processor and draws its frames
        view = wait_for(browser, "#live-view", "data-state", "live")
        browser.find_element("css selector", "#live-follow").click()  # hold the view still
        view = wait_for(browser, "#live-view", "data-state", "live")
        drawn = json.loads(view.get_attribute("data-boxes"))
        label = view.get_attribute("aria-label")
        assert label.startswith("Latest analysed frame of door") and "person" in label
        status, headers, body = get(srv.url + "/oculi/console/stream-frame?name=door")
        answer = json.loads(body)
        assert status == 200 and headers["cache-control"] == "no-store"
        assert answer["RunsHere"] and answer["Status"] == "RUNNING"
        frame = answer["Frame"]
        # downscaled to 640 px wide (the codec may round the photo's odd height)
        assert frame["Width"] == 640 and abs(frame["Height"] - 661 * 640 / 1126) <= 1
        size = browser.execute_script(
            "const c = document.querySelector('#live-view'); return [c.width, c.height];"
        )
        assert size == [frame["Width"], frame["Height"]]
        persons = [d for d in answer["Detections"] if d["Label"] == "PERSON"]
        assert persons and len(drawn) == len(answer["Detections"])
        # the same still frame: the boxes drawn are where the route says, in the frame's px
        for d, shown in zip(answer["Detections"], drawn, strict=True):
            b = d["BoundingBox"]
            want = [b["Left"] * 640, b["Top"] * frame["Height"], b["Width"] * 640]
            want.append(b["Height"] * frame["Height"])
            assert shown["label"].startswith(d["Label"].lower())
            assert all(abs(got - w) <= 2 for got, w in zip(shown["px"], want, strict=True))
        # a processor that is not running says so
        from selenium.webdriver.support.ui import Select

        Select(by_css(browser, "#live-processor")).select_by_value("idle")
        wait_for(browser, "#live-view", "data-state", "not-here")
        assert not by_css(browser, "#live-view").is_displayed()  # no frame of another
        note = by_css(browser, "#live-note").text
        assert "idle is not running (STOPPED)" in note
        # every frame read is audited with the processor; no frame is written anywhere
        status, _, body = get(
            srv.url + "/oculi/console/audit?operation=GetStreamProcessorFrame&limit=200"
        )
        reads = json.loads(body)["Records"]
        assert status == 200 and {r["processor"] for r in reads} == {"door", "idle"}
        assert any(r.get("matches", 0) >= 1 for r in reads if r["processor"] == "door")
        written = [p for p in srv.data_dir.rglob("*") if p.suffix in (".jpg", ".jpeg")]
        assert written == []
        status, _, body = get(srv.url + "/oculi/console/stream-frame?name=nope")
        assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"
        client.stop_stream_processor(Name="door")
    finally:
        srv.stop()


def test_health_says_what_is_loaded_and_the_queues(browser, server: Server, client) -> None:
    """Lazy models: a DetectFaces loads face detection and nothing else of the list."""
    client.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})
    visit(browser, server.url + "/console/#/models")
    by_css(browser, "#pipelines-table")
    from selenium.webdriver.common.by import By

    state = {
        r.get_attribute("data-pipeline"): r.get_attribute("data-loaded")
        for r in browser.find_elements(By.CSS_SELECTOR, "#pipelines-table tbody tr")
    }
    assert state["face detection"] == "true"
    assert "0 running, 0 queued" in by_css(browser, "#health-table").text
    status, _, body = get(server.url + "/oculi/console/health")
    health = json.loads(body)
    assert status == 200 and health["VideoJobs"] == {"Running": 0, "Queued": 0}
    loaded = {p["Title"]: p["Loaded"] for p in health["Pipelines"]}
    assert loaded == {k: v == "true" for k, v in state.items()}
    assert health["StreamProcessorsRunning"] == 0


def test_kept_faces_show_thumbnails_and_retention(browser, tmp_path: Path) -> None:
    """With --keep-images each face shows its crop (fetched signed, audited); the collection's
    retention period is shown."""
    srv = Server(tmp_path, env={"OCULI_KEEP_IMAGES": "1"})
    try:
        client = srv.client()
        client.create_collection(CollectionId="kept")
        client.index_faces(
            CollectionId="kept",
            Image={"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()},
            ExternalImageId="obama.jpg",
        )
        set_days = ("retention", "set", "kept", "--days", "30", "--data-dir", str(srv.data_dir))
        assert oculi_cli(*set_days).returncode == 0
        visit(browser, srv.url + "/console/#/collections")
        by_css(browser, "#collection-list button[data-open=kept]").click()
        thumb = wait_for(browser, "#faces-table img.thumb", "data-state", "done")
        size = browser.execute_script(
            "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", thumb
        )
        assert size[1] == 96 and 40 < size[0] < 200
        assert "deleted 30 days after" in by_css(browser, "#collection-retention").text
        records = [
            json.loads(line)
            for line in (srv.data_dir / "audit" / "audit.jsonl").read_text().splitlines()
        ]
        assert any(r["operation"] == "GetFaceImage" and r["outcome"] == "OK" for r in records)
    finally:
        srv.stop()
