"""Errors oculi's use cases raise. Each carries the Rekognition error name it maps to, so
every edge (AWS API, CLI, native endpoints) reports the same failure the same way."""

from __future__ import annotations


class OculiError(Exception):
    """A failure caused by the request, reported to the client (HTTP 400)."""

    code = "InvalidParameterException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(OculiError):
    code = "InvalidParameterException"


class InvalidImageFormat(OculiError):
    code = "InvalidImageFormatException"


class ImageTooLarge(OculiError):
    code = "ImageTooLargeException"


class InvalidS3Object(OculiError):
    code = "InvalidS3ObjectException"


class AccessDenied(OculiError):
    code = "AccessDeniedException"


class Throttling(OculiError):
    code = "ThrottlingException"


class ResourceNotFound(OculiError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExists(OculiError):
    code = "ResourceAlreadyExistsException"


class InvalidPaginationToken(OculiError):
    code = "InvalidPaginationTokenException"


class Conflict(OculiError):
    code = "ConflictException"


class IdempotentParameterMismatch(OculiError):
    code = "IdempotentParameterMismatchException"


class ServiceQuotaExceeded(OculiError):
    code = "ServiceQuotaExceededException"


class ResourceInUse(OculiError):
    code = "ResourceInUseException"


class LimitExceeded(OculiError):
    code = "LimitExceededException"


class VideoTooLarge(OculiError):
    code = "VideoTooLargeException"
