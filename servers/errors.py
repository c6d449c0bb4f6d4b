"""One place that maps every error to an HTTP status and the body ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bbt_mp2.errors import (
    BackendError,
    BbtError,
    BudgetExceededError,
    CheckpointError,
    ConfigError,
    DataError,
    ShapeError,
    UnknownNameError,
)

__all__ = ["ServiceError", "install_error_handlers", "error_response", "status_of"]

logger = logging.getLogger(__name__)

# (class, status, code); the first match wins, so subclasses come before their bases
_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (BudgetExceededError, 429, "budget_exceeded"),
    (UnknownNameError, 404, "not_found"),
    (CheckpointError, 409, "checkpoint_conflict"),
    (ShapeError, 422, "shape_error"),
    (DataError, 422, "data_error"),
    (ConfigError, 422, "invalid_value"),
    (BackendError, 503, "backend_unavailable"),
    (BbtError, 422, "invalid_request"),
)


class ServiceError(Exception):
    """An HTTP-level refusal (401, 413, 429 rate limit, 503 queue full) with an optional Retry-After."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def error_response(status: int, code: str, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = {} if retry_after is None else {"Retry-After": str(max(1, int(retry_after + 0.999)))}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def status_of(exc: BaseException) -> tuple[int, str]:
    """The (status, code) of a library error."""
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal_error"


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text[1:-1] if isinstance(exc, KeyError) and len(text) > 1 and text[0] == text[-1] == '"' else text


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: library errors, service refusals, validation (422), HTTP errors, anything else."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.retry_after)

    @app.exception_handler(BbtError)
    async def _library(_: Request, exc: BbtError) -> JSONResponse:
        status, code = status_of(exc)
        return error_response(status, code, _message(exc), 1.0 if status == 503 else None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "malformed request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error: %s", type(exc).__name__)
        return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")
