"""Rekognition's error answer on the wire, for the routes and the middleware in front of
them: `{"__type": ..., "Message": ...}` with `x-amzn-ErrorType` and `x-amzn-RequestId`."""

from __future__ import annotations

import json

from starlette.responses import Response

CONTENT_TYPE = "application/x-amz-json-1.1"


def error_response(code: str, message: str, status: int, request_id: str) -> Response:
    return Response(
        json.dumps({"__type": code, "Message": message}),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code},
    )
