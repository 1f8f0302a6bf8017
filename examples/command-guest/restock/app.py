"""Restock: sets the stock level of every item in one batch and says which updates took effect.

Arguments: ITEM=COUNT ... (default: a small sample). Exits 1 when some update did not succeed,
after printing each one with its reason.
"""

import sys

from wit_world import exports
from wit_world.imports import environment

import kvbatch

SAMPLE = ["apple=12", "pear=0", "plum=7", "fig=3"]


class Run(exports.Run):
    def run(self) -> None:
        pairs = [arg.split("=", 1) for arg in environment.get_arguments()[1:] or SAMPLE]
        bucket = kvbatch.open("default")
        result = bucket.set_many({f"stock:{item}": count.encode() for item, count in pairs})
        print(f"{len(result.succeeded)} of {result.total} stock levels saved")
        for key, error in result.failed.items():
            print(f"  not saved: {key} ({error})")
        for key in result.unknown:
            print(f"  unknown: {key} (the store may or may not have it)")
        if not result.all_succeeded:
            sys.exit(1)
