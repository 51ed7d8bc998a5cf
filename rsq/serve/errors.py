"""The API's one error shape, `{"error": "..."}`, for its own refusals, rsq's user errors (phrased for HTTP
parameters: the lower layers word them for the CLI, `--after wants a date` becomes `after wants a date`), request
validation (400, as every other invalid parameter) and Starlette's own answers (404 route, 405 method)."""

import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from rsq.errors import OptionError, RsqError

# The API's parameters: a CLI flag in a message is named as the parameter it stands for; other flags (of commands
# the message advises, `rsq index --images`) stay as they are.
PARAMETERS = (
    "q",
    "k",
    "offset",
    "mode",
    "fusion",
    "alpha",
    "sensor",
    "bbox",
    "near",
    "after",
    "before",
    "explain",
    "image_weight",
    "text",
    "lam",
    "tile_id",
    "image",
    "size",
    "view",
    "fmt",
)
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z-]*)\b")


class ErrorBody(BaseModel):
    """What every 4xx answer of the API holds."""

    error: str


class ApiError(Exception):
    """A refusal with its status (and headers, e.g. WWW-Authenticate)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def phrased(error: RsqError | str, root: Path | None = None) -> str:
    """A user error for the API: an option named as its parameter (`OptionError`s name their option; flags in
    other messages are matched by name), the index's folder not named."""
    message = error.phrased(str) if isinstance(error, OptionError) else str(error)
    if root is not None:
        message = message.replace(f"index {root}", "the index").replace(str(root), "the index")
    return FLAG.sub(lambda m: m[1].replace("-", "_") if m[1].replace("-", "_") in PARAMETERS else m[0], message)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_handlers(app: FastAPI, root: Path) -> None:
    """Every error the app answers in the one shape."""

    @app.exception_handler(ApiError)
    def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.headers)

    @app.exception_handler(RsqError)
    def user_error(request: Request, error: RsqError) -> JSONResponse:
        return error_response(400, phrased(error, root))

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, validation_message(error))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), error.headers)


def validation_message(error: RequestValidationError) -> str:
    """`k: Input should be a valid integer ...`, one clause per invalid parameter."""
    clauses = []
    for problem in error.errors():
        names = [
            str(part) for part in problem.get("loc", ()) if part not in ("query", "path", "body", "header", "form")
        ]
        clauses.append(f"{names[-1] if names else 'request'}: {problem.get('msg', 'invalid')}")
    return "; ".join(clauses) or "invalid request"
