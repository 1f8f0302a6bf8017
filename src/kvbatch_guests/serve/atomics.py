"""`wasi:keyvalue/atomics`'s `cas` resource for the serve adapter (componentize-py looks for an
exported resource with static functions in a module named after its interface)."""

from typing import Optional

from wire import bucket_name, call, unb64
from wit_world.exports import atomics, store


class Cas(atomics.Cas):
    """A compare-and-swap handle: the value `key` held when it was made."""

    def __init__(self, bucket: str, key: str, seen: Optional[bytes]) -> None:
        self.bucket = bucket
        self.key = key
        self.seen = seen

    @classmethod
    def new(cls, bucket: store.Bucket, key: str) -> "Cas":
        name = bucket_name(bucket)
        return cls(name, key, unb64(call("get", {"store": name, "key": key})))

    def current(self) -> Optional[bytes]:
        return self.seen
