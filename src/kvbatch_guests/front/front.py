"""The serve front: Spin's HTTP trigger inside the served component.

Built by `kvbatch build serve-front` (world `kvbatch:serve/spin-front`, `wasi:http/middleware@0.3.0`)
and composed by `kvbatch serve` in front of every served component, so `wasmtime serve` runs the
routing Spin's HTTP trigger does without a process in between: a request on one of the
component's routes (`$KVBATCH_SERVE_ROUTES`) is forwarded with the `spin-*` headers Spin sets,
body and trailers streamed through unread; the front answers Spin's health check, paths no route
matches (404) and bodies declared over the limit (413) itself (`routing.decide`).
"""

import os
from typing import Optional

import componentize_py_async_support
import wit_world
from componentize_py_async_support.futures import FutureReader
from componentize_py_async_support.streams import ByteStreamWriter
from componentize_py_types import Ok, Result
from routes import RouteTable
from routing import ROUTES_ENV, Answer, decide, route_table
from wit_world import exports
from wit_world.imports import handler
from wit_world.imports.wasi_http_types import ErrorCode, Fields, Request, Response

_table: Optional[RouteTable[None]] = None


def _routes() -> RouteTable[None]:
    global _table
    if _table is None:
        _table = route_table(os.environ.get(ROUTES_ENV))
    return _table


def _unit_future() -> FutureReader[Result[None, ErrorCode]]:
    return wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))[1]


def _no_trailers() -> FutureReader[Result[Optional[Fields], ErrorCode]]:
    return wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(lambda: Ok(None))[1]


async def _write(stream: ByteStreamWriter, data: bytes) -> None:
    with stream:
        await stream.write_all(data)


async def _settle(transmitted: FutureReader[Result[None, ErrorCode]]) -> None:
    """Holds the forwarded request's transmission future until the component is done with its body."""
    with transmitted:
        await transmitted.read()


def _answer(answer: Answer) -> Response:
    data = answer.text.encode()
    writer, reader = wit_world.byte_stream()
    componentize_py_async_support.spawn(_write(writer, data))
    headers = Fields.from_list([("content-type", b"text/plain"), ("content-length", str(len(data)).encode())])
    response = Response.new(headers, reader, _no_trailers())[0]
    response.set_status_code(answer.status)
    return response


class Handler(exports.Handler):
    """The exported `wasi:http/handler`: routes like Spin, then hands over to the component's handler."""

    async def handle(self, request: Request) -> Response:
        target = request.get_path_with_query() or "/"
        authority = request.get_authority()
        decision = decide(_routes(), target, request.get_headers().copy_all(), authority)
        if isinstance(decision, Answer):
            return _answer(decision)
        method, scheme = request.get_method(), request.get_scheme()
        body, trailers = Request.consume_body(request, _unit_future())
        forwarded, transmitted = Request.new(Fields.from_list(decision.headers), body, trailers, None)
        forwarded.set_method(method)
        forwarded.set_scheme(scheme)
        forwarded.set_authority(authority)
        forwarded.set_path_with_query(target)
        componentize_py_async_support.spawn(_settle(transmitted))
        return await handler.handle(forwarded)
