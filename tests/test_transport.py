"""The HTTP edge under hostile clients: slow and idle bodies, strangers, DNS rebinding,
replayed signatures, and SIGTERM in the middle of a request."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import REGION, Server, fixture_bytes

KEY, SECRET = "AKTRANSPORT", "transport-secret"
NO_RETRIES = Config(retries={"max_attempts": 0})
IDLE_S = 8  # OCULI_BODY_TIMEOUT_S of the servers below


def connect(srv: Server, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=60, source_address=(source, 0))


def send_head(sock: socket.socket, headers: dict[str, str], first: bytes, path: str = "/") -> None:
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall((head + "\r\n").encode("latin-1") + first)


def answer(sock: socket.socket) -> tuple[int, dict]:
    """The response on `sock` (waiting up to 60 s): status and JSON body."""
    sock.setblocking(True)
    sock.settimeout(60)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read() or b"{}")


def still_open(sock: socket.socket) -> bool:
    """No answer and no close yet."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # an answer, or b"" for a close
    except BlockingIOError:
        return True
    return False


def forged_headers(length: int) -> dict[str, str]:
    """A well-formed, current signature naming a known key (access key ids are not secret),
    but computed without its secret."""
    now = datetime.now(timezone.utc)
    return {
        "Host": "127.0.0.1",
        "X-Amz-Target": "RekognitionService.DetectFaces",
        "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
        "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/{now:%Y%m%d}/{REGION}/"
        f"rekognition/aws4_request, SignedHeaders=host;x-amz-date, Signature={'0' * 64}",
        "Content-Length": str(length),
    }


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("keyed"),
        keys={KEY: SECRET},
        env={"OCULI_BODY_TIMEOUT_S": str(IDLE_S)},
        args=["--requests-per-client", "20", "--auth-region", REGION],
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("open"), env={"OCULI_BODY_TIMEOUT_S": str(IDLE_S)})
    yield srv
    srv.stop()


# ---- slow and idle bodies (issue 12, item 3) -----------------------------------------------


def test_strangers_and_idle_bodies_lock_nobody_out(keyed) -> None:
    """Unauthenticated connections are refused before their body is read; connections that
    pass the header check but never finish their body hold no place (more of them than the
    16 places) and are capped per client address; a signed call goes through meanwhile; the
    idle bodies then get RequestTimeoutException."""
    strangers = []
    for _ in range(20):
        sock = connect(keyed, "127.0.0.3")
        send_head(sock, {"Host": "127.0.0.1", "Content-Length": str(7 * 1024 * 1024)}, b"{")
        strangers.append(sock)
    assert {answer(s)[1]["__type"] for s in strangers} == {"MissingAuthenticationTokenException"}

    idle = []
    for _ in range(24):
        sock = connect(keyed, "127.0.0.2")
        send_head(sock, forged_headers(100_000), b"{")
        idle.append(sock)
    time.sleep(1)  # let the server take them in
    parked = [s for s in idle if still_open(s)]
    over_cap = [answer(s) for s in idle if s not in parked]
    assert len(parked) == 20  # --requests-per-client 20: more than 16 (workers x queue)
    assert [(status, doc["__type"]) for status, doc in over_cap] == [
        (400, "ThrottlingException")
    ] * 4

    client = keyed.client(KEY, SECRET, config=NO_RETRIES)
    assert client.list_collections()["CollectionIds"] == []
    photo = {"Bytes": fixture_bytes("obama-480p.jpg")}
    assert len(client.detect_faces(Image=photo)["FaceDetails"]) == 1
    assert all(still_open(s) for s in parked)

    for sock in parked:
        status, doc = answer(sock)
        assert (status, doc["__type"]) == (408, "RequestTimeoutException")
    for sock in strangers + idle:
        sock.close()


def test_dribbled_body_times_out(keyed) -> None:
    """A body that keeps coming, but too slowly for its length, is cut off too."""
    sock = connect(keyed, "127.0.0.4")
    send_head(sock, forged_headers(1_000_000), b"{")
    started = time.monotonic()
    # 1,000,000 bytes at 65,536 B/s: the whole body is due within IDLE_S + 15.3 s
    while still_open(sock) and time.monotonic() - started < 120:
        sock.sendall(b" ")
        time.sleep(1)
    status, doc = answer(sock)
    assert (status, doc["__type"]) == (408, "RequestTimeoutException")
    sock.close()


def test_idle_bodies_without_keys(open_server) -> None:
    """Without keys nothing can be refused from the headers, but idle bodies still hold no
    place: 16 of them (all the places) and a call from the same address still goes through."""
    idle = []
    for _ in range(16):
        sock = connect(open_server)
        send_head(sock, {"Host": "127.0.0.1", "Content-Length": "100000"}, b"{")
        idle.append(sock)
    time.sleep(1)
    assert open_server.client(config=NO_RETRIES).list_collections()["CollectionIds"] == []
    assert all(still_open(s) for s in idle)
    for sock in idle:
        assert answer(sock)[1]["__type"] == "RequestTimeoutException"
        sock.close()


# ---- DNS rebinding (issue 12, item 11) -----------------------------------------------------


def post(
    srv: Server, headers: dict[str, str], body: bytes, path: str = "/"
) -> tuple[int, dict | bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    is_json = response.getheader("Content-Type", "").startswith("application/")
    return response.status, json.loads(raw) if is_json else raw


def create_collection(srv: Server, cid: str, **headers: str) -> tuple[int, dict | bytes]:
    return post(
        srv,
        {
            "X-Amz-Target": "RekognitionService.CreateCollection",
            "Content-Type": "application/x-amz-json-1.1",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        },
        json.dumps({"CollectionId": cid}).encode(),
    )


def test_rebound_host_and_foreign_origin_refused(open_server) -> None:
    port = open_server.port
    refused = [
        create_collection(open_server, "rebound", Host=f"rebind.attacker.example:{port}"),
        create_collection(
            open_server, "crosssite", Host=f"127.0.0.1:{port}", Origin="http://evil.example"
        ),
        create_collection(open_server, "sandboxed", Host=f"127.0.0.1:{port}", Origin="null"),
    ]
    for status, doc in refused:
        assert status == 403 and doc["__type"] == "AccessDeniedException"
    status, doc = post(
        open_server,
        {"Host": "127.0.0.1", "Origin": "http://evil.example", "Content-Type": "text/plain"},
        fixture_bytes("obama-480p.jpg"),
        "/oculi/redact",
    )
    assert (status, doc["__type"]) == (403, "AccessDeniedException")
    assert create_collection(open_server, "nohost")[0] == 400  # HTTP/1.1 requires a Host
    assert open_server.client().list_collections()["CollectionIds"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "localhost:{port}"},
        {"Host": "[::1]:{port}"},
        {"Host": "127.0.0.1", "Origin": "http://localhost:3000"},
    ],
)
def test_loopback_names_served(open_server, headers) -> None:
    headers = {k: v.format(port=open_server.port) for k, v in headers.items()}
    cid = f"ok{abs(hash(tuple(headers.values())))}"
    status, doc = create_collection(open_server, cid, **headers)
    assert status == 200, doc
    open_server.client().delete_collection(CollectionId=cid)


# ---- signatures (issue 12, item 17) --------------------------------------------------------


def signed(srv: Server, operation: str, params: dict) -> urllib.request.Request:
    """A request boto3 would send, signed now, kept so that it can be sent again."""
    request = AWSRequest(
        method="POST",
        url=srv.url + "/",
        data=json.dumps(params).encode(),
        headers={
            "X-Amz-Target": f"RekognitionService.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials(KEY, SECRET), "rekognition", REGION).add_auth(request)
    return urllib.request.Request(
        request.url, data=request.body, headers=dict(request.headers), method="POST"
    )


def send(request: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_replayed_mutating_call_refused(keyed) -> None:
    """The finding: a captured DeleteCollection sent again within the skew window deleted
    the collection created again since."""
    client = keyed.client(KEY, SECRET)
    client.create_collection(CollectionId="replayed")
    delete = signed(keyed, "DeleteCollection", {"CollectionId": "replayed"})
    assert send(delete)[0] == 200
    # the same call made again within the same second carries the same signature: served
    client.create_collection(CollectionId="replayed")
    time.sleep(3)  # past the 2 s grace
    status, doc = send(delete)
    assert (status, doc["__type"]) == (403, "InvalidSignatureException")
    assert "replay" in doc["Message"]
    assert "replayed" in client.list_collections()["CollectionIds"]
    # read-only calls may be sent again (SDKs re-sign every retry anyway)
    listing = signed(keyed, "ListCollections", {})
    assert send(listing)[0] == send(listing)[0] == 200
    client.delete_collection(CollectionId="replayed")


def test_unsigned_payload_refused_on_the_wire(keyed) -> None:
    request = AWSRequest(
        method="POST",
        url=keyed.url + "/",
        data=b'{"CollectionId": "a"}',
        headers={
            "X-Amz-Target": "RekognitionService.CreateCollection",
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        },
    )
    SigV4Auth(Credentials(KEY, SECRET), "rekognition", REGION).add_auth(request)
    swapped = urllib.request.Request(
        request.url, data=b'{"CollectionId": "b"}', headers=dict(request.headers), method="POST"
    )
    status, doc = send(swapped)
    assert (status, doc["__type"]) == (403, "InvalidSignatureException")


def test_region_checked_when_configured(keyed) -> None:
    """--auth-region: a signature scoped to another region is refused."""
    other = boto3.client(
        "rekognition",
        endpoint_url=keyed.url,
        region_name="eu-west-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    with pytest.raises(ClientError) as e:
        other.list_collections()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


# ---- SIGTERM (issue 12, item 14) -----------------------------------------------------------


def test_sigterm_answers_requests_in_progress_then_closes(tmp_path) -> None:
    """SIGTERM arrives while a request's body is still coming; the request is answered
    (it takes longer than uvicorn's old 5 s drain), the process exits 0 and the store is
    closed (SQLite removes its WAL file only on a clean close)."""
    srv = Server(tmp_path, env={"OCULI_BODY_TIMEOUT_S": "30"})
    body = json.dumps(
        {"Image": {"Bytes": base64.b64encode(fixture_bytes("obama-480p.jpg")).decode()}}
    ).encode()
    sock = connect(srv)
    headers = {
        "Host": "127.0.0.1",
        "X-Amz-Target": "RekognitionService.DetectFaces",
        "Content-Type": "application/x-amz-json-1.1",
        "Content-Length": str(len(body)),
    }
    thirds = [body[: len(body) // 3], body[len(body) // 3 : 2 * len(body) // 3]]
    send_head(sock, headers, thirds[0])
    time.sleep(1)
    srv.proc.send_signal(signal.SIGTERM)
    for part in (thirds[1], body[2 * len(body) // 3 :]):
        time.sleep(3)
        sock.sendall(part)
    status, doc = answer(sock)
    assert status == 200 and len(doc["FaceDetails"]) == 1
    sock.close()
    assert srv.proc.wait(120) == 0
    srv.log.close()
    assert (srv.data_dir / "faces.sqlite3").exists()
    assert not (srv.data_dir / "faces.sqlite3-wal").exists()
