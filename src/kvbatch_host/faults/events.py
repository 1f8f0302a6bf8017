"""The event log: every backend operation the harness performed and its true outcome.

The fault layer (`kvbatch_host.faults.FaultLayer`) appends one `Event` per backend operation
(one per key inside a batch), plus one per batch call saying what the batch implementation
answered. Tests and `kvbatch run --events PATH` read it to compare what a component *reports*
with what *happened*.

`applied` is the truth about the store: `True` the operation took effect (for reads: it was
performed), `False` it did not, `None` nobody can know (a backend connection failed
mid-command). An in-doubt fault is `applied=True` with an `error`.

JSON Lines form (one object a line, written as events happen):

    {"seq": 7, "op": "set", "store": "default", "key": "user:0002", "applied": false,
     "result": "error", "error": {"kind": "other", "message": "disk full"},
     "batch": 3, "batch_op": "set-many", "position": 2, "fault": "error", "rule": 0,
     "value": {"size": 54, "sha256": "3f1c..."}}
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

from kvbatch_host.errors import ConfigError, HostKvError

WRITE_OPS = ("set", "delete", "increment", "cas")
"""Backend operations that change the store."""

BATCH_OPS = ("get-many", "set-many", "delete-many")


def value_digest(value: Optional[bytes]) -> Optional[Dict[str, Any]]:
    """Size and a short SHA-256 of a value (the log never holds values themselves)."""
    if value is None:
        return None
    return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest()[:16]}


@dataclass
class Event:
    """One backend operation (or one batch call) and its outcome."""

    seq: int
    op: str
    """`get`, `set`, `delete`, `exists`, `list-keys`, `increment`, `cas`, or a batch call (`set-many`...)."""
    store: str
    key: Optional[str] = None
    applied: Optional[bool] = True
    result: str = "ok"
    """`ok`, `error` (an `err` was returned), or `trap` (an injected host trap)."""
    error: Optional[Dict[str, str]] = None
    batch: Optional[int] = None
    """Id of the batch call this operation was made for (`None`: a plain store call)."""
    batch_op: Optional[str] = None
    position: Optional[int] = None
    """0-based index of this operation among the batch call's operations of the same kind."""
    fault: Optional[str] = None
    """Effect of the fault rule that fired (`error`, `in-doubt`, `latency`, `trap`), if any."""
    rule: Optional[int] = None
    value: Optional[Dict[str, Any]] = None
    """For writes: size and digest of the value written; for a batch call: its key count."""
    detail: Optional[Dict[str, Any]] = None

    def to_json(self) -> Dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("applied",)}

    @property
    def is_write(self) -> bool:
        return self.op in WRITE_OPS

    @property
    def error_kind(self) -> Optional[str]:
        return None if self.error is None else self.error["kind"]


def error_json(err: HostKvError) -> Dict[str, str]:
    return {"kind": err.kind, "message": err.message}


@dataclass
class EventLog:
    """A thread-safe, append-only list of `Event`s, optionally mirrored to a JSONL file."""

    sink: Optional[IO[str]] = None
    events: List[Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seq: int = 0
    _batches: int = 0
    path: Optional[str] = None
    """The file the log is mirrored to, if any."""
    write_error: Optional[OSError] = None
    """The first error writing the file (e.g. a full disk); from then on events are kept in memory only."""

    @classmethod
    def to_file(cls, path: str | Path) -> "EventLog":
        """A log that also writes each event as a JSON line to `path` (truncated first).

        Raises `ConfigError` naming the path when it cannot be opened for writing (a
        directory, a missing parent that cannot be made, no permission).
        """
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            sink = open(path, "w", encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"event log {str(path)!r}: cannot open it for writing ({err.strerror or err})") from None
        return cls(sink=sink, path=str(path))

    def record(self, op: str, store: str, **fields: Any) -> Event:
        with self._lock:
            self._seq += 1
            event = Event(self._seq, op, store, **fields)
            self.events.append(event)
            if self.sink is not None:
                try:
                    self.sink.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
                    self.sink.flush()
                except OSError as err:  # never fail the operation being logged: report it at close()
                    self.write_error = self.write_error or err
                    self._drop_sink()
        return event

    def _drop_sink(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            try:
                sink.close()
            except OSError as err:
                self.write_error = self.write_error or err

    def next_batch_id(self) -> int:
        with self._lock:
            self._batches += 1
            return self._batches

    def mark(self) -> int:
        """A position in the log: `since(mark)` gives what happened after it."""
        return len(self.events)

    def since(self, mark: int = 0) -> List[Event]:
        return self.events[mark:]

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self.events))

    def __len__(self) -> int:
        return len(self.events)

    def faults(self, mark: int = 0) -> List[Event]:
        """Events where a fault rule fired."""
        return [e for e in self.since(mark) if e.fault is not None]

    def applied_writes(self, mark: int = 0, store: Optional[str] = None) -> Dict[str, List[Event]]:
        """Per key, the write events that took effect (or may have: `applied` None), in order."""
        found: Dict[str, List[Event]] = {}
        for event in self.since(mark):
            if event.is_write and event.applied is not False and event.key is not None:
                if store is None or event.store == store:
                    found.setdefault(event.key, []).append(event)
        return found

    def close(self) -> None:
        """Closes the file; raises `ConfigError` naming it if any event could not be written."""
        self._drop_sink()
        if self.write_error is not None:
            err, self.write_error = self.write_error, None
            raise ConfigError(f"event log {self.path!r}: cannot write it ({err.strerror or err}); "
                              f"the {len(self.events)} events of this run are incomplete there")


def read_jsonl(path: str | Path) -> List[Dict[str, Any]]:
    """The events of a `--events` file, as dicts."""
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
