"""kvbatch_bulk: bulk key-value HTTP endpoints as plain Python, over the kvbatch library.

Stdlib and kvbatch only; never imports host code. The Spin component (`spin/app.py`) and the
test guest (`kvbatch_guests/bulk_driver.py`) are thin shells that turn their runtime's
requests into `Request`s and hand them to `BulkApi.handle`.
"""

from .api import NEXT_CURSOR_HEADER, ApiForToken, BulkApi, reason
from .limits import Limits
from .listing import KeyLister, Position
from .messages import HttpError, Request, Response
from .stores import OpenStore, StoreAccess, WitStores

__all__ = [
    "ApiForToken",
    "BulkApi",
    "HttpError",
    "KeyLister",
    "Limits",
    "NEXT_CURSOR_HEADER",
    "OpenStore",
    "Position",
    "Request",
    "Response",
    "StoreAccess",
    "WitStores",
    "reason",
]
