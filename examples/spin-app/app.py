"""A Spin app that saves many records in one request and answers for each of them.

POST /scores with a JSON object {"player": score, ...} writes every score in one set-many and
answers {"saved": [...], "failed": {...}, "unknown": [...]}: which keys took effect, even when the
store's batch call fails half-way. GET /scores?players=a,b reads them back in one get-many.
"""

import json
from urllib.parse import parse_qs, urlparse

from spin_sdk import http
from spin_sdk.wit.imports import wasi_keyvalue_store_0_2_0_draft2 as kv_store

import kvbatch


def scores() -> kvbatch.Bucket:
    """The store "default", through spin-sdk's wasi:keyvalue bindings, as a kvbatch bucket."""
    return kvbatch.wrap(kv_store.open("default"), "default")


def answer(status: int, body: object) -> http.Response:
    return http.Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


class HttpHandler(http.Handler):
    async def handle_request(self, request: http.Request) -> http.Response:
        bucket = scores()
        if request.method == "POST":
            items = {f"score:{player}": str(score).encode() for player, score in json.loads(request.body).items()}
            result = bucket.set_many(items)
            return answer(200 if result.all_succeeded else 207, {
                "saved": list(result.succeeded),
                "failed": {key: str(error) for key, error in result.failed.items()},
                "unknown": list(result.unknown),
            })
        players = parse_qs(urlparse(request.uri).query).get("players", [""])[0].split(",")
        got = bucket.get_many([f"score:{player}" for player in players if player])
        return answer(200, {key.removeprefix("score:"): int(value) for key, value in got.values.items()})
