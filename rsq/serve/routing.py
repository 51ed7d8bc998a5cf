"""How requests reach the routes: tile ids of any text (slashes, newlines, ids ending in `/image`), and a bound
on the URL's length answered with a JSON 414 rather than a reset connection."""

from typing import Any

from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from rsq.serve.errors import error_response

MAX_URL_BYTES = 16 * 2**10  # path and query string; a query holds at most 64 words (rsq.textindex.bm25)
MAX_HEAD_BYTES = 2**20  # what h11 reads of a request's head before giving up, so a long URL gets its 414
# h11 by name: the head limit is h11's; uvicorn would take httptools where it is installed (ray[serve] brings it)
UVICORN_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "http": "h11",
    "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
}


class TileIdConvertor(Convertor[str]):
    """Any text, newlines included (Starlette's `path` convertor, `.*`, stops at a newline)."""

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("tile_id", TileIdConvertor())


class SuffixRoute(APIRoute):
    """A route whose path ends in text after its last parameter (`/api/tiles/{tile_id}/image`) matches only when
    the request spells that text with a plain slash: the tile `x/image`, sent as `/api/tiles/x%2Fimage`, reaches
    the bare tile route, and `/api/tiles/x/image%0A` is not the image of `x`."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        suffix = self.path_format.rsplit("}", 1)[-1].encode()
        raw = scope.get("raw_path")
        if (
            match is not Match.NONE
            and "}" in self.path_format
            and suffix
            and raw is not None
            and not raw.split(b"?", 1)[0].endswith(suffix)
        ):
            return Match.NONE, {}
        return match, child


class UrlBound:
    """Answers 414 with the API's error shape to a URL (path and query) longer than MAX_URL_BYTES."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
            if length > MAX_URL_BYTES:
                message = f"the URL is {length} bytes long, more than {MAX_URL_BYTES}: shorten the query"
                await error_response(414, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
