"""Verify AWS Signature Version 4 on incoming requests.

The server side of SigV4: rebuild the canonical request the client signed, derive the signing
key from the secret registered for the access key in the credential scope, and compare
signatures in constant time. Both forms a client can sign with are accepted: the
``Authorization`` header (what boto3 sends) and presigned query parameters (``X-Amz-Algorithm``,
``X-Amz-Credential``, ...). Failures raise :class:`AuthError` carrying the error code AWS itself
returns, so boto3 users see the same ``ClientError`` codes as against AWS.
:func:`check_credential` does every check that needs no body, so that a server can refuse
strangers before reading what they send; :func:`verify` does them all.

Only the non-S3 rules are implemented: the path is normalised (dot segments and empty segments
removed) and URI-encoded once more, which double-encodes it as botocore does for every service
but S3. Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
_TERMINATOR = "aws4_request"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# A presigned URL is a bearer token: it may last an hour at most (AWS allows 7 days).
_MAX_PRESIGNED_EXPIRES = 3600
_QUERY_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

_MISSING = "MissingAuthenticationTokenException"
_INCOMPLETE = "IncompleteSignatureException"
_INVALID = "InvalidSignatureException"
_UNRECOGNIZED = "UnrecognizedClientException"
_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


class AuthError(Exception):
    """A request whose signature cannot be accepted; ``code`` is the AWS error code."""

    def __init__(self, code: str, message: str, access_key: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.access_key = access_key  # set once the signature has been verified


@dataclass(frozen=True)
class _Auth:
    """The signature a request claims, with its credential scope."""

    access_key: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    signed_at: datetime
    expires: int | None  # seconds a presigned request stays valid; None for header auth

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{_TERMINATOR}"


@dataclass(frozen=True)
class Verified:
    """A request whose signature checked out."""

    access_key: str
    signature: str  # hex; the same request sent again carries the same one
    valid_until: datetime  # after this the signature is refused anyway (skew or expiry)


def check_credential(
    query: str,
    headers: Mapping[str, str],
    secrets: Mapping[str, str],
    service: str = "rekognition",
    now: datetime | None = None,
    max_skew_seconds: int = 900,
    region: str | None = None,
) -> str:
    """What can be checked before the body is read: a well-formed signature (header or
    presigned query) scoped to ``service`` (and ``region`` when given), naming a known access
    key, signed within the allowed clock skew (or presigned and not yet expired). Returns the
    access key it names (not yet proven: the signature covers the body); raises
    :class:`AuthError` otherwise."""
    auth, _, _ = _claimed(query, headers, secrets, service, region)
    _check_time(auth, _as_utc(now), max_skew_seconds)
    return auth.access_key


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    service: str = "rekognition",
    now: datetime | None = None,
    max_skew_seconds: int = 900,
    region: str | None = None,
) -> Verified:
    """Check a request's SigV4 signature; the access key that signed it and how long the
    signature stays acceptable.

    ``path`` and ``query`` are the raw, still percent-encoded request target as sent on the
    wire (ASGI ``raw_path`` and ``query_string``). ``headers`` may be any mapping (lookup is
    case-insensitive; repeated headers, as a starlette ``Headers`` yields them from ``items()``,
    are joined with commas as SigV4 prescribes). ``secrets`` maps access key ids to secret keys.
    ``now`` defaults to the current time; a naive ``now`` is taken as UTC. ``region=None``
    accepts any region in the credential scope.

    Raises :class:`AuthError` when the request is unsigned, malformed, signed by an unknown key,
    outside the allowed clock skew (or past a presigned URL's expiry), declares its payload
    unsigned, or is wrongly signed.
    """
    auth, header_map, params = _claimed(query, headers, secrets, service, region)
    now = _as_utc(now)
    _check_time(auth, now, max_skew_seconds)
    presigned = auth.expires is not None
    canonical_params = [(n, v) for n, v in params if not (presigned and n == b"X-Amz-Signature")]
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_uri(path),
            _canonical_query(canonical_params),
            _canonical_headers(header_map, auth.signed_headers),
            ";".join(auth.signed_headers),
            _payload_hash(header_map, body),
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            auth.timestamp,
            auth.scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    expected = hmac.new(
        _signing_key(secrets[auth.access_key], auth), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("utf-8")):
        raise AuthError(_INVALID, _MISMATCH_MESSAGE)
    lifetime = max_skew_seconds if auth.expires is None else auth.expires
    return Verified(auth.access_key, expected, auth.signed_at + timedelta(seconds=lifetime))


def _claimed(
    query: str,
    headers: Mapping[str, str],
    secrets: Mapping[str, str],
    service: str,
    region: str | None,
) -> tuple[_Auth, dict[str, list[str]], list[tuple[bytes, bytes]]]:
    """The signature a request claims, its scope checked and its key known."""
    header_map = _normalise_headers(headers)
    params = _parse_query(query)
    presigned = any(name == b"X-Amz-Algorithm" for name, _ in params)
    if "authorization" in header_map:
        if presigned:
            raise AuthError(
                _INCOMPLETE,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or "
                "the Authorization header should be specified.",
            )
        auth = _auth_from_header(header_map)
    elif presigned:
        auth = _auth_from_query(params)
    else:
        raise AuthError(_MISSING, "Missing Authentication Token")

    if auth.service != service:
        raise AuthError(_INVALID, f"Credential should be scoped to correct service: '{service}'.")
    if region is not None and auth.region != region:
        raise AuthError(
            _INVALID, f"Credential should be scoped to a valid region, not '{auth.region}'."
        )
    if auth.access_key not in secrets:
        raise AuthError(_UNRECOGNIZED, "The security token included in the request is invalid.")
    return auth, header_map, params


def _normalise_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Lower-case header names, keeping every value of a repeated header in order."""
    normalised: dict[str, list[str]] = {}
    for name, value in headers.items():
        normalised.setdefault(name.lower(), []).append(value)
    return normalised


def _header(header_map: dict[str, list[str]], name: str) -> str | None:
    values = header_map.get(name)
    return None if values is None else ",".join(values).strip()


def _parse_query(query: str) -> list[tuple[bytes, bytes]]:
    """Split a raw query string into percent-decoded (name, value) pairs."""
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def _auth_from_header(header_map: dict[str, list[str]]) -> _Auth:
    authorization = _header(header_map, "authorization") or ""
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError(
            _INCOMPLETE,
            f"Unsupported AWS 'algorithm': '{algorithm}'; the Authorization header must start "
            f"with '{ALGORITHM}'.",
        )
    fields: dict[str, str] = {}
    for component in rest.split(","):
        key, sep, value = component.strip().partition("=")
        if not sep or not key:
            raise AuthError(
                _INCOMPLETE,
                f"Authorization header component '{component.strip()}' is not of the form "
                "key=value.",
            )
        fields[key] = value
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise AuthError(
            _INCOMPLETE,
            " ".join(f"Authorization header requires '{key}' parameter." for key in missing),
        )
    timestamp = _header(header_map, "x-amz-date")
    if not timestamp:
        raise AuthError(
            _INCOMPLETE, "Authorization header requires existence of a 'X-Amz-Date' header."
        )
    auth = _build_auth(
        fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp, None
    )
    if "x-amz-security-token" in header_map and "x-amz-security-token" not in auth.signed_headers:
        raise AuthError(
            _INCOMPLETE, "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."
        )
    return auth


def _auth_from_query(params: list[tuple[bytes, bytes]]) -> _Auth:
    values = {
        name.decode("utf-8", "replace"): value.decode("utf-8", "replace") for name, value in params
    }
    missing = [name for name in _QUERY_AUTH_PARAMS if not values.get(name)]
    if missing:
        raise AuthError(
            _INCOMPLETE,
            " ".join(f"AWS query-string parameters must include '{name}'." for name in missing),
        )
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthError(
            _INCOMPLETE,
            f"Unsupported AWS 'algorithm': '{values['X-Amz-Algorithm']}'; X-Amz-Algorithm must "
            f"be '{ALGORITHM}'.",
        )
    raw_expires = values["X-Amz-Expires"]
    if not raw_expires.isdigit() or not 0 < int(raw_expires) <= _MAX_PRESIGNED_EXPIRES:
        raise AuthError(
            _INCOMPLETE,
            f"X-Amz-Expires must be a whole number of seconds from 1 to {_MAX_PRESIGNED_EXPIRES}, "
            f"not '{raw_expires}'.",
        )
    return _build_auth(
        values["X-Amz-Credential"],
        values["X-Amz-SignedHeaders"],
        values["X-Amz-Signature"],
        values["X-Amz-Date"],
        int(raw_expires),
    )


def _build_auth(
    credential: str, signed_headers: str, signature: str, timestamp: str, expires: int | None
) -> _Auth:
    """Validate the credential scope, signed header list and timestamp a request names."""
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise AuthError(
            _INCOMPLETE,
            f"Credential '{credential}' is malformed; expected "
            f"'<access key id>/<YYYYMMDD>/<region>/<service>/{_TERMINATOR}'.",
        )
    access_key, scope_date, scope_region, scope_service, terminator = parts
    if terminator != _TERMINATOR:
        raise AuthError(
            _INCOMPLETE,
            f"Credential should be scoped with a valid terminator: '{_TERMINATOR}', "
            f"not '{terminator}'.",
        )
    names = tuple(name.lower() for name in signed_headers.split(";"))
    if not all(names):
        raise AuthError(_INCOMPLETE, f"SignedHeaders '{signed_headers}' contains an empty name.")
    if "host" not in names:
        raise AuthError(_INCOMPLETE, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    try:
        signed_at = datetime.strptime(timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        signed_at = None
    if signed_at is None or signed_at.strftime(_TIMESTAMP_FORMAT) != timestamp:
        raise AuthError(
            _INCOMPLETE,
            f"X-Amz-Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got "
            f"'{timestamp}'.",
        )
    if scope_date != timestamp[:8]:
        raise AuthError(
            _INCOMPLETE,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{timestamp[:8]}', from '{timestamp}'.",
        )
    return _Auth(
        access_key=access_key,
        scope_date=scope_date,
        region=scope_region,
        service=scope_service,
        signed_headers=names,
        signature=signature,
        timestamp=timestamp,
        signed_at=signed_at,
        expires=expires,
    )


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        return now.replace(tzinfo=timezone.utc)
    return now


def _check_time(auth: _Auth, now: datetime, max_skew_seconds: int) -> None:
    """Reject a request signed too long ago (or past its presigned expiry) or in the future."""
    lifetime = max_skew_seconds if auth.expires is None else auth.expires
    earliest = now - timedelta(seconds=lifetime)
    latest = now + timedelta(seconds=max_skew_seconds)
    if auth.signed_at < earliest:
        raise AuthError(
            _INVALID,
            f"Signature expired: {auth.timestamp} is now earlier than "
            f"{earliest.strftime(_TIMESTAMP_FORMAT)} "
            f"({now.strftime(_TIMESTAMP_FORMAT)} - {_duration(lifetime)})",
        )
    if auth.signed_at > latest:
        raise AuthError(
            _INVALID,
            f"Signature not yet current: {auth.timestamp} is still later than "
            f"{latest.strftime(_TIMESTAMP_FORMAT)} "
            f"({now.strftime(_TIMESTAMP_FORMAT)} + {_duration(max_skew_seconds)})",
        )


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."


def _canonical_uri(path: str) -> str:
    """Remove dot and empty segments, then URI-encode the (already encoded) path again."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if segments and path.endswith("/") else ""
    return quote("/" + "/".join(segments) + trailing, safe="/~")


def _canonical_query(params: list[tuple[bytes, bytes]]) -> str:
    encoded = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in params
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _canonical_headers(header_map: dict[str, list[str]], names: tuple[str, ...]) -> str:
    """One ``name:value`` line per signed header, values trimmed, plus the closing blank line."""
    lines = [
        f"{name}:{','.join(' '.join(value.split()) for value in header_map.get(name, []))}\n"
        for name in names
    ]
    return "".join(lines)


def _payload_hash(header_map: dict[str, list[str]], body: bytes) -> str:
    """The payload line of the canonical request.

    A client may declare the hash in ``X-Amz-Content-SHA256``; signers then use that value
    verbatim, so it goes into the canonical request as sent. A declared hex digest must match
    the body actually received. ``UNSIGNED-PAYLOAD`` (which AWS accepts) is refused: it
    would leave the body, the image and the operation's parameters, unauthenticated, and no
    SDK sends it for Rekognition.
    """
    body_hash = hashlib.sha256(body).hexdigest()
    declared = _header(header_map, "x-amz-content-sha256")
    if declared is None:
        return body_hash
    if declared == _UNSIGNED_PAYLOAD:
        raise AuthError(
            _INVALID,
            "oculi requires a signed payload: 'x-amz-content-sha256: UNSIGNED-PAYLOAD' is "
            "not accepted; sign the SHA-256 of the body.",
        )
    if not hmac.compare_digest(declared.encode("utf-8"), body_hash.encode("ascii")):
        raise AuthError(
            _INVALID, "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return declared


def _signing_key(secret: str, auth: _Auth) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (auth.scope_date, auth.region, auth.service, _TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key
