"""Injected failures: what a flaky network or a struggling Amazon does to a call.

Rules come from the admin API (a queue of one-shot or n-shot rules per operation) or from
the unsigned request header ``x-emulator-fault: <fault>[;latency=<seconds>]``.

* ``latency``: sleep, then process normally.
* ``408``/``425``/``429``/``500``/``502``/``503``/``504``: answer that Amazon error and
  change nothing, so a retry must succeed cleanly.
* ``connection-reset``: drop the connection *before* processing: nothing happened.
* ``drop-response``: process and commit, then drop the answer: the client cannot know
  the outcome and must reconcile (or replay with its idempotency key).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from .errors import FAULT_ERRORS, AmazonError

FAULT_REQUEST_HEADER = "x-emulator-fault"
NETWORK_FAULTS = ("connection-reset", "drop-response")
FAULT_KINDS = ("latency", *NETWORK_FAULTS, *(str(code) for code in FAULT_ERRORS))


@dataclass
class FaultRule:
    fault: str
    operation: str = "*"
    latency: float = 0.0
    #: How many matching calls this rule still affects.
    count: int = 1
    rule_id: int = 0

    def __post_init__(self) -> None:
        self.fault = str(self.fault).strip().lower()
        if self.fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.fault!r}; use one of {', '.join(FAULT_KINDS)}")
        if self.latency < 0 or self.count < 1:
            raise ValueError("latency must be >= 0 and count >= 1")

    @property
    def status(self) -> "int | None":
        return int(self.fault) if self.fault.isdigit() else None

    def error(self) -> AmazonError:
        reason, message = FAULT_ERRORS[self.status]  # type: ignore[index]
        return AmazonError(self.status, reason, message)  # type: ignore[arg-type]

    def as_dict(self) -> dict:
        return {"id": self.rule_id, **{k: v for k, v in asdict(self).items() if k != "rule_id"}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FaultRule":
        from .routes import OPERATIONS

        operation = str(data.get("operation") or "*")
        if operation != "*" and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        return cls(fault=str(data.get("fault") or ""), operation=operation,
                   latency=float(data.get("latency") or 0), count=int(data.get("count") or 1))


def parse_fault_header(value: str) -> FaultRule:
    """``503``, ``latency;latency=2``, ``latency=2``, ``drop-response``, ``500;latency=0.5``."""
    parts = [p.strip() for p in value.split(";") if p.strip()]
    if not parts:
        raise ValueError("empty fault header")
    head, params = parts[0], parts[1:]
    latency = 0.0
    if "=" in head:  # "latency=2" alone
        params.insert(0, head)
        head = "latency"
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() in ("latency", "seconds"):
            latency = float(raw)
    return FaultRule(fault=head, latency=latency)


class FaultQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, fault: str, operation: str = "*", *, latency: float = 0.0, count: int = 1) -> FaultRule:
        rule = FaultRule.from_dict({"fault": fault, "operation": operation, "latency": latency, "count": count})
        with self._lock:
            rule.rule_id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def take(self, operation: "str | None") -> "FaultRule | None":
        """The first rule for this operation (or ``*``), consuming one of its uses."""
        with self._lock:
            for rule in self._rules:
                if rule.operation == "*" or rule.operation == operation:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return FaultRule(rule.fault, rule.operation, rule.latency, 1, rule.rule_id)
        return None

    @property
    def rules(self) -> "list[FaultRule]":
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
