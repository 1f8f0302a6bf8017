"""Tally: adds one vote for each name given, reading and writing all counts in one batch each."""

from wit_world import exports
from wit_world.imports import environment

import kvbatch


class Run(exports.Run):
    def run(self) -> None:
        names = environment.get_arguments()[1:]
        bucket = kvbatch.open("default")
        keys = [f"votes:{name}" for name in names]
        counts = bucket.get_many(keys).values
        result = bucket.set_many({key: str(int(counts.get(key, b"0")) + 1).encode() for key in keys})
        for key, status in result.outcomes().items():
            print(f"{key}: {status}")
