"""What the OpenAPI document says each route answers: its errors (all in the one shape, `ErrorBody`) and the
media types of its images and GeoJSON. Request validation answers 400 here, so FastAPI's generic 422 is dropped."""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from rsq.serve.errors import ErrorBody

ERRORS = {
    400: "an invalid parameter (named in the message)",
    404: "no such tile, or a tile without an image file",
    413: "the uploaded image is too large (bytes or pixels)",
    414: "the URL is too long",
    422: "the tile's image file cannot be read",
}
# As JSON whatever the route's own media type (FastAPI would give a `model` the route's: image/jpeg for an error).
ERROR_CONTENT = {"application/json": {"schema": ErrorBody.model_json_schema()}}
AUTH = {
    401: {
        "content": ERROR_CONTENT,
        "description": "the API needs an Authorization: Bearer <token> header",
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    }
}


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


class JPEGResponse(Response):
    media_type = "image/jpeg"


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route."""
    return {status: {"content": ERROR_CONTENT, "description": ERRORS[status]} for status in statuses}


def images(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer of image bytes in one of `media_types`."""
    content = {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types}
    return {200: {"description": "the image", "content": content}}


def without_validation_422(app: FastAPI) -> None:
    """The app's OpenAPI document without FastAPI's 422 HTTPValidationError (validation answers 400)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operations in document["paths"].values():
                for operation in operations.values():
                    if "HTTPValidationError" in str(operation["responses"].get("422", "")):
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                document.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi
