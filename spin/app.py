"""The Spin component: bulk key-value HTTP endpoints (a thin shell over `kvbatch_bulk`).

Built by `kvbatch build spin` (the same command as `spin build`, see spin.toml) against
spin-sdk's world `spin:up/http-trigger@4.1.0`. Each request reads the access token from the
component variable `token` (bound to the required secret application variable
`kvbatch_token`): Spin may resolve it from a provider whose value changes while an instance
lives, so a request reads it again when the last read is a second old or more (`ApiForToken`,
`TOKEN_REREAD_S`): a changed value takes effect within a second, and a runtime that reuses an
instance for many requests (`wasmtime serve`) does not pay for a read on each one. It opens the
named store through `wasi:keyvalue@0.2.0-draft2` (Spin grants the stores in
`key_value_stores`; others are `access-denied`, answered 403), once per instance for a store
granted (a runtime that reuses instances, such as `wasmtime serve`, skips the open of later
requests), and hands the request to `kvbatch_bulk.BulkApi`, which also serves the key-value explorer page at the
route's root (`kvbatch_bulk.explorer`).
"""

from __future__ import annotations

import sys

from componentize_py_types import Err
from spin_sdk import http
from spin_sdk.wit.imports import spin_variables_variables_3_0_0 as variables
from spin_sdk.wit.imports import wasi_keyvalue_atomics_0_2_0_draft2 as kv_atomics
from spin_sdk.wit.imports import wasi_keyvalue_batch_0_2_0_draft2 as kv_batch
from spin_sdk.wit.imports import wasi_keyvalue_store_0_2_0_draft2 as kv_store

from kvbatch_bulk import ApiForToken, HttpError, Request, Response, WitStores
from kvbatch_bulk.messages import error_response

TOKEN_VARIABLE = "token"
PATH_INFO = "spin-path-info"
"""The header where Spin puts the request path after the route prefix (`/kv/stores/x/keys` → `/stores/x/keys`)."""
STORES = WitStores(kv_store, kv_batch, Err, atomics_module=kv_atomics, keep_open=True)
APIS = ApiForToken(STORES)
"""The API for the token last read, kept for the further requests an instance serves."""


async def _token() -> str | None:
    try:
        return await variables.get(TOKEN_VARIABLE)
    except Err:
        return None


def _misconfigured(problem: str) -> Response:
    print(f"kvbatch: refusing requests: {problem} (set the Spin variable kvbatch_token)", file=sys.stderr)
    return error_response(HttpError(500, "the component is not configured"))


class HttpHandler(http.Handler):
    """Spin's HTTP entry point."""

    async def handle_request(self, request: http.Request) -> http.Response:
        try:
            api = APIS.recent() or APIS.api(await _token())
        except ValueError as err:
            answer = _misconfigured(str(err))
        else:
            path_info = next((v for k, v in request.headers.items() if k.lower() == PATH_INFO), None)
            answer = api.handle(Request.from_target(request.method, request.uri, request.headers, request.body, path_info))
        return http.Response(answer.status, dict(answer.headers), answer.body)

