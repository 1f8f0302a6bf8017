"""A Spin HTTP handler that answers every request `hello` and does nothing else.

Built by `kvbatch build spin-hello` against the same world as the Spin component
(spin-sdk's `spin:up/http-trigger@4.1.0`) and served by `kvbatch bench` exactly as `kvbatch serve`
serves that component (composed with the same stubs and serve adapter, precompiled, under
`wasmtime serve`): the floor its requests per second are judged against.
"""

from __future__ import annotations

from spin_sdk import http


class HttpHandler(http.Handler):
    """Answers `200 hello`."""

    async def handle_request(self, request: http.Request) -> http.Response:
        return http.Response(200, {"content-type": "text/plain"}, b"hello")
