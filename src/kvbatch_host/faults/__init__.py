"""Fault injection between `wasi:keyvalue` and the backend: the rules (`rules`), their parser
(`parser`), the plan (`plan`), the layer (`layer`) and the event log (`events`); the names here
re-export them.

A **fault plan** is a list of rules. Each rule says which backend operations it matches and
what happens to them:

| field | matches / does | example |
|---|---|---|
| `op` | operation(s): get, set, delete, exists, list-keys, increment, cas (`|`-separated) | `op=set\\|delete` |
| `key` | key, exact or glob (`*`, `?`, `[abc]`); `|` for alternatives | `key=user:00*`, `key=a\\|b` |
| `store` | store name, exact or glob | `store=default` |
| `batch` | the batch call the operation serves: get-many, set-many, delete-many, or `none` (host-native batch, or the conformance driver's calls; a composed provider's calls are per-key to the host) | `batch=set-many` |
| `position` | 0-based index among the batch call's operations of the same kind (`2`, `1-3`, `0\\|4`); same scope as `batch` | `position=2` |
| `nth` | fire only on the Nth operation the rule matched (1-based, counted over the run) | `nth=3` |
| `times` | fire at most this many times (default: every match; `nth` means once) | `times=2` |
| `error` | return `err(KIND[:MESSAGE])`; the operation is not performed | `error=other:disk full` |
| `in-doubt` | perform the operation, then return `err(KIND[:MESSAGE])` | `in-doubt=other:timeout` |
| `trap` | raise in the host function: the calling component traps | `trap=host crashed` |
| `latency` | wait first (`50ms`, `0.2s`, bare numbers are ms; at most 60 s) | `latency=50ms` |

KIND is `other`, `access-denied` or `no-such-store`. A rule needs at least one effect; `error`,
`in-doubt` and `trap` exclude each other, `latency` combines with any of them.

On the command line a rule is `field=value` pairs separated by commas (double-quote a value
that holds a comma): `--fault 'op=set,position=2,error=other:disk full'`. In a file (JSON or
TOML) rules use the same field names: JSON `[{"op": "set", "position": 2, "error": "other:disk
full"}]` (or `{"faults": [...]}`); TOML `[[fault]]` tables.

The layer (`FaultLayer`) sits in front of each backend and logs every operation with its true
outcome (`kvbatch_host.faults.layer`).
"""

from kvbatch_host.faults.events import BATCH_OPS, WRITE_OPS, Event, EventLog
from kvbatch_host.faults.layer import FaultLayer, FiredFault, InjectedTrap, ObservedBatch, PlanState, install
from kvbatch_host.faults.parser import parse_rule, rule_from_mapping, split_fields
from kvbatch_host.faults.plan import FaultPlan
from kvbatch_host.faults.rules import (FIELDS, MAX_LATENCY_MS, MAX_RULE_POSITIONS, OPERATIONS, FaultPlanError, FaultRule,
                                       PositionSet)

__all__ = ["BATCH_OPS", "FIELDS", "MAX_LATENCY_MS", "MAX_RULE_POSITIONS", "OPERATIONS", "WRITE_OPS", "Event", "EventLog",
           "FaultLayer", "FaultPlan", "FaultPlanError", "FaultRule", "FiredFault", "InjectedTrap", "ObservedBatch",
           "PlanState", "PositionSet", "install", "parse_rule", "rule_from_mapping", "split_fields"]
