"""SigV4 verification against requests signed by botocore itself (and one AWS doc vector)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from oculi.api.sigv4 import AuthError, check_credential
from oculi.api.sigv4 import verify as verify_signature

ACCESS_KEY = "AKIDOCULITEST"
SECRET_KEY = "s3cr3t/Key+With=Odd~Chars"
SECRETS = {ACCESS_KEY: SECRET_KEY}
SIGNED_AT = datetime(2024, 3, 9, 23, 58, 30, tzinfo=timezone.utc)
BODY = b'{"Image": {"Bytes": "aGVsbG8="}, "Attributes": ["DEFAULT"]}'


@pytest.fixture(autouse=True)
def _frozen_signing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore stamps requests with the current time; pin it so tests are deterministic."""
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None)
    )


def sign(
    body: bytes = BODY,
    url: str = "http://127.0.0.1:1234/",
    service: str = "rekognition",
    region: str = "us-east-1",
    secret: str = SECRET_KEY,
    token: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> AWSRequest:
    headers = {
        "X-Amz-Target": "RekognitionService.DetectFaces",
        "Content-Type": "application/x-amz-json-1.1",
        **(extra_headers or {}),
    }
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, secret, token), service, region).add_auth(request)
    return request


def verify(
    request: AWSRequest,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    **kwargs: object,
) -> str:
    """Verify ``request`` as a server receiving it would, optionally with altered parts."""
    parts = urlsplit(request.url)
    if headers is None:
        headers = wire_headers(request)
    kwargs.setdefault("now", SIGNED_AT + timedelta(seconds=5))
    return verify_signature(
        request.method,
        parts.path,
        parts.query,
        headers,
        request.body if body is None else body,
        SECRETS,
        **kwargs,
    ).access_key


def rejected(request: AWSRequest, **kwargs: object) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verify(request, **kwargs)
    return caught.value


def wire_headers(request: AWSRequest, **changes: str | None) -> dict[str, str]:
    """The headers a server receives for ``request``; ``changes`` replace (or, as None, drop)
    headers, named with underscores for dashes (``X_Amz_Date``)."""
    headers = dict(request.headers.items())
    headers["Host"] = urlsplit(request.url).netloc  # added by the HTTP client, after signing
    for key, value in changes.items():
        name = key.replace("_", "-")
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
    return headers


def test_valid_request_returns_access_key() -> None:
    assert verify(sign()) == ACCESS_KEY


def test_header_names_are_case_insensitive() -> None:
    request = sign()
    lowered = {k.lower(): v for k, v in wire_headers(request).items()}
    upper = {k.upper(): v for k, v in lowered.items()}
    assert verify(request, headers=lowered) == ACCESS_KEY
    assert verify(request, headers=upper) == ACCESS_KEY


def test_unsigned_extra_header_is_ignored() -> None:
    request = sign()
    assert verify(request, headers=wire_headers(request, User_Agent="curl/8")) == ACCESS_KEY


def test_wrong_secret_is_invalid_signature() -> None:
    error = rejected(sign(secret="not-the-secret"))
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith("The request signature we calculated does not match")


def test_unknown_access_key_is_unrecognized_client() -> None:
    request = sign()
    with pytest.raises(AuthError) as caught:
        parts = urlsplit(request.url)
        verify_signature(
            "POST",
            parts.path,
            "",
            wire_headers(request),
            BODY,
            {"OTHER": SECRET_KEY},
            now=SIGNED_AT,
        )
    assert caught.value.code == "UnrecognizedClientException"
    assert caught.value.message == "The security token included in the request is invalid."


def test_missing_authorization_is_missing_token() -> None:
    request = sign()
    error = rejected(request, headers=wire_headers(request, Authorization=None))
    assert error.code == "MissingAuthenticationTokenException"
    assert error.message == "Missing Authentication Token"


def test_tampered_body_is_invalid_signature() -> None:
    error = rejected(sign(), body=BODY.replace(b"DEFAULT", b"ALL"))
    assert error.code == "InvalidSignatureException"


def test_tampered_signed_header_is_invalid_signature() -> None:
    request = sign()
    headers = wire_headers(request, X_Amz_Target="RekognitionService.DeleteCollection")
    error = rejected(request, headers=headers)
    assert error.code == "InvalidSignatureException"
    assert "does not match" in error.message


def test_tampered_host_is_invalid_signature() -> None:
    request = sign()
    error = rejected(request, headers=wire_headers(request, Host="evil.example:1234"))
    assert error.code == "InvalidSignatureException"


def test_tampered_method_and_path_are_invalid_signature() -> None:
    request = sign()
    headers = wire_headers(request)
    for method, path in (("PUT", "/"), ("POST", "/other")):
        with pytest.raises(AuthError) as caught:
            verify_signature(method, path, "", headers, BODY, SECRETS, now=SIGNED_AT)
        assert caught.value.code == "InvalidSignatureException"


def test_clock_skew_within_limit_is_accepted() -> None:
    request = sign()
    assert verify(request, now=SIGNED_AT + timedelta(minutes=14)) == ACCESS_KEY
    assert verify(request, now=SIGNED_AT - timedelta(minutes=14)) == ACCESS_KEY


def test_old_signature_is_expired() -> None:
    error = rejected(sign(), now=SIGNED_AT + timedelta(minutes=20))
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith("Signature expired: 20240309T235830Z is now earlier than")
    assert "expired" in error.message


def test_future_signature_is_not_yet_current() -> None:
    error = rejected(sign(), now=SIGNED_AT - timedelta(minutes=20))
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith("Signature not yet current: 20240309T235830Z")


def test_custom_skew_and_naive_now() -> None:
    request = sign()
    naive_now = (SIGNED_AT + timedelta(seconds=90)).replace(tzinfo=None)
    assert verify(request, now=naive_now) == ACCESS_KEY
    error = rejected(request, now=naive_now, max_skew_seconds=60)
    assert error.code == "InvalidSignatureException"
    assert "expired" in error.message


def test_signature_for_other_service_is_rejected() -> None:
    error = rejected(sign(service="s3"))
    assert error.code == "InvalidSignatureException"
    assert error.message == "Credential should be scoped to correct service: 'rekognition'."


def test_region_is_checked_only_when_given() -> None:
    request = sign(region="eu-west-1")
    assert verify(request) == ACCESS_KEY
    assert verify(request, region="eu-west-1") == ACCESS_KEY
    error = rejected(request, region="us-east-1")
    assert error.code == "InvalidSignatureException"
    assert "scoped to a valid region" in error.message


SCOPE = f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240309/us-east-1/rekognition"


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        ("garbage", "Unsupported AWS 'algorithm'"),
        ("", "Unsupported AWS 'algorithm'"),
        ("AWS4-HMAC-SHA512 Credential=a, SignedHeaders=host, Signature=00", "algorithm"),
        ("AWS4-HMAC-SHA256 garbage", "key=value"),
        (f"{SCOPE}/aws4_request, SignedHeaders=host", "requires 'Signature' parameter"),
        (f"{SCOPE}, SignedHeaders=host, Signature=00", "Credential"),
        (f"{SCOPE}/aws4_reques, SignedHeaders=host, Signature=00", "terminator"),
        (f"{SCOPE}/aws4_request, SignedHeaders=x-amz-date, Signature=00", "'Host'"),
        (f"{SCOPE}/aws4_request, SignedHeaders=host;;x-amz-date, Signature=00", "empty name"),
        (
            f"{SCOPE.replace('20240309', '20240310')}/aws4_request, SignedHeaders=host, "
            "Signature=00",
            "Date in Credential scope",
        ),
    ],
)
def test_malformed_authorization_is_incomplete(authorization: str, fragment: str) -> None:
    request = sign()
    error = rejected(request, headers=wire_headers(request, Authorization=authorization))
    assert error.code == "IncompleteSignatureException"
    assert fragment in error.message


@pytest.mark.parametrize(
    "date", [None, "2024-03-09T23:58:30Z", "20240309T2358Z", "20241309T235830Z"]
)
def test_missing_or_malformed_date_is_incomplete(date: str | None) -> None:
    request = sign()
    error = rejected(request, headers=wire_headers(request, X_Amz_Date=date))
    assert error.code == "IncompleteSignatureException"
    assert "X-Amz-Date" in error.message


def test_query_string_and_session_token_verify() -> None:
    url = "http://127.0.0.1:1234/?b=2&a=%20sp%C3%A9cial~&a=1&flag"
    request = sign(url=url, token="session/token+value==")
    assert "X-Amz-Security-Token" in request.headers
    assert verify(request) == ACCESS_KEY
    parts = urlsplit(request.url)
    headers = wire_headers(request)
    with pytest.raises(AuthError) as caught:
        verify_signature(
            "POST", "/", parts.query.replace("b=2", "b=3"), headers, BODY, SECRETS, now=SIGNED_AT
        )
    assert caught.value.code == "InvalidSignatureException"


def test_unsigned_session_token_is_incomplete() -> None:
    request = sign()
    headers = wire_headers(request, X_Amz_Security_Token="smuggled")
    error = rejected(request, headers=headers)
    assert error.code == "IncompleteSignatureException"
    assert "X-Amz-Security-Token" in error.message


def test_path_is_normalised_and_double_encoded() -> None:
    request = sign(url="http://127.0.0.1:1234/a%20b/./c/../d%2Fe//f/")
    assert verify(request) == ACCESS_KEY


def test_declared_payload_hash_must_match_body() -> None:
    declared = {"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()}
    request = sign(extra_headers=declared)
    assert verify(request) == ACCESS_KEY
    error = rejected(request, body=b"{}")
    assert error.code == "InvalidSignatureException"
    assert "x-amz-content-sha256" in error.message


def test_unsigned_payload_is_refused() -> None:
    """AWS accepts UNSIGNED-PAYLOAD, which lets anyone who sees one signed request send it
    again with another body (another image, another CollectionId); oculi does not."""
    request = sign(extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    for body in (None, b"{}"):
        error = rejected(request, body=body)
        assert error.code == "InvalidSignatureException"
        assert "UNSIGNED-PAYLOAD" in error.message


def test_botocore_signs_rekognition_payloads() -> None:
    """What the refusal above rests on: boto3 signs the body's hash for Rekognition (no
    X-Amz-Content-SHA256 header at all)."""
    client = boto3.client(
        "rekognition",
        endpoint_url="http://127.0.0.1:1",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    seen: list[AWSRequest] = []
    client.meta.events.register("before-send", lambda request, **_: seen.append(request) or True)
    with pytest.raises(Exception):  # noqa: B017 - the stub answer is not a Rekognition reply
        client.list_collections()
    assert seen and "X-Amz-Content-SHA256" not in seen[0].headers


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    request = sign()
    authorization = request.headers["Authorization"][:-1] + "é"
    error = rejected(request, headers=wire_headers(request, Authorization=authorization))
    assert error.code == "InvalidSignatureException"


def presign(url: str = "http://127.0.0.1:1234/?Action=Ping", expires: int = 300) -> AWSRequest:
    request = AWSRequest(method="GET", url=url)
    auth = SigV4QueryAuth(
        Credentials(ACCESS_KEY, SECRET_KEY, "tok"), "rekognition", "us-east-1", expires=expires
    )
    auth.add_auth(request)
    return request


def test_presigned_url_verifies() -> None:
    request = presign()
    assert "Authorization" not in request.headers
    headers = {"Host": "127.0.0.1:1234"}
    assert verify(request, headers=headers, body=b"") == ACCESS_KEY
    later = SIGNED_AT + timedelta(seconds=299)
    assert verify(request, headers=headers, body=b"", now=later) == ACCESS_KEY


def test_presigned_url_expires_and_rejects_tampering() -> None:
    request = presign()
    headers = {"Host": "127.0.0.1:1234"}
    error = rejected(request, headers=headers, body=b"", now=SIGNED_AT + timedelta(seconds=301))
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith("Signature expired")
    parts = urlsplit(request.url)
    with pytest.raises(AuthError) as caught:
        verify_signature(
            "GET", "/", parts.query.replace("Ping", "Pong"), headers, b"", SECRETS, now=SIGNED_AT
        )
    assert caught.value.code == "InvalidSignatureException"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("X-Amz-Expires=300", "X-Amz-Expires=999999999", "X-Amz-Expires"),
        ("X-Amz-Expires=300", "X-Amz-Expires=3601", "X-Amz-Expires"),  # an hour at most
        ("X-Amz-Expires=300", "X-Amz-Expires=soon", "X-Amz-Expires"),
        ("X-Amz-Signature=", "X-Amz-Sig=", "'X-Amz-Signature'"),
        ("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", "algorithm"),
    ],
)
def test_malformed_presigned_query_is_incomplete(old: str, new: str, fragment: str) -> None:
    query = urlsplit(presign().url).query
    assert old in query
    with pytest.raises(AuthError) as caught:
        verify_signature(
            "GET",
            "/",
            query.replace(old, new),
            {"Host": "127.0.0.1:1234"},
            b"",
            SECRETS,
            now=SIGNED_AT,
        )
    assert caught.value.code == "IncompleteSignatureException"
    assert fragment in caught.value.message


def test_header_and_query_auth_together_is_incomplete() -> None:
    query = urlsplit(presign().url).query
    request = sign()
    with pytest.raises(AuthError) as caught:
        verify_signature("POST", "/", query, wire_headers(request), BODY, SECRETS, now=SIGNED_AT)
    assert caught.value.code == "IncompleteSignatureException"
    assert "Only one auth mechanism" in caught.value.message


def test_aws_documentation_example() -> None:
    """The IAM ListUsers example from AWS's SigV4 documentation, independent of botocore."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Host": "iam.amazonaws.com",
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        ),
    }
    key = verify_signature(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        headers,
        b"",
        {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
        service="iam",
        region="us-east-1",
        now=datetime(2015, 8, 30, 12, 40, tzinfo=timezone.utc),
    ).access_key
    assert key == "AKIDEXAMPLE"


def test_credential_is_checked_before_the_body() -> None:
    """check_credential needs no body: unknown keys, other services, stale dates and
    malformed headers are refused from the headers alone."""
    request = sign()
    headers = wire_headers(request)
    assert check_credential("", headers, SECRETS, now=SIGNED_AT) == ACCESS_KEY
    refusals = [
        ({"AKOTHER": "x"}, headers, SIGNED_AT, "UnrecognizedClientException"),
        (SECRETS, wire_headers(request, Authorization=None), SIGNED_AT, "MissingAuthentication"),
        (SECRETS, wire_headers(request, Authorization="AWS4-HMAC-SHA256 x"), SIGNED_AT, "Incomp"),
        (SECRETS, headers, SIGNED_AT + timedelta(minutes=16), "InvalidSignatureException"),
    ]
    for secrets, hdrs, now, code in refusals:
        with pytest.raises(AuthError) as caught:
            check_credential("", hdrs, secrets, now=now)
        assert caught.value.code.startswith(code)
    with pytest.raises(AuthError):
        check_credential("", wire_headers(sign(service="s3")), SECRETS, now=SIGNED_AT)


def test_verified_signature_and_lifetime() -> None:
    """What the replay cache keys on: the signature, valid until the skew window ends."""
    request = sign()
    parts = urlsplit(request.url)
    verified = verify_signature(
        "POST", parts.path, "", wire_headers(request), BODY, SECRETS, now=SIGNED_AT
    )
    assert verified.access_key == ACCESS_KEY
    assert verified.signature == request.headers["Authorization"].rsplit("Signature=", 1)[1]
    assert verified.valid_until == SIGNED_AT + timedelta(seconds=900)
