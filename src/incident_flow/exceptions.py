"""The errors incident_flow raises.

Every error is an :class:`IncidentFlowError`; where it is natural a class also inherits the
matching builtin, so ``except ValueError`` in a host keeps working::

    IncidentFlowError
    ├── InvalidCommand (ValueError)      a command's arguments are wrong (blank actor, P9...)
    ├── InvalidTransition        the process does not allow this trigger in this state
    ├── PolicyViolation          the process allows it, but a standard of the Policy does not (yet)
    ├── ConcurrencyError         someone else appended to the incident first
    ├── IncidentNotFound (KeyError)
    ├── InvalidPolicy (ValueError)       a policy file or value is wrong; lists every problem
    ├── InvalidPayload (ValueError)      an alert body cannot be read
    │   └── InvalidSignature             a webhook signature is wrong, missing or too old
    ├── DeliveryError            a notifier, pager or publisher could not deliver (retried later)
    └── StorageError             a storage backend failed; the driver's exception is chained

A refused command (``InvalidTransition``, ``PolicyViolation``) never changes anything.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConcurrencyError",
    "DeliveryError",
    "IncidentFlowError",
    "IncidentNotFound",
    "InvalidCommand",
    "InvalidPayload",
    "InvalidPolicy",
    "InvalidSignature",
    "InvalidTransition",
    "PolicyViolation",
    "StorageError",
]


class IncidentFlowError(Exception):
    """Base class of every error raised by incident_flow."""


class InvalidCommand(IncidentFlowError, ValueError):
    """A command's arguments are wrong (who acts is blank, a severity is not P1..P5...).

    Raised before anything is decided; nothing changes.
    """


class InvalidTransition(IncidentFlowError):
    """The process has no ``trigger`` from the incident's current state.

    Attributes:
        incident_id: the incident the command was for.
        state: the state it is in.
        trigger: the trigger that was refused.
        allowed: the triggers the process allows in that state, sorted.
    """

    def __init__(self, incident_id: str, state: str, trigger: str, allowed: Sequence[str]) -> None:
        self.incident_id = incident_id
        self.state = state
        self.trigger = trigger
        self.allowed = tuple(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "nothing (it is final)"
        super().__init__(
            f"incident {incident_id} is {state}: cannot {trigger}; allowed now: {allowed_text}"
        )


class PolicyViolation(IncidentFlowError):
    """The transition exists, but a standard of the policy forbids it now.

    Attributes:
        incident_id: the incident the command was for.
        state: the state it is in.
        trigger: the refused trigger.
        standard: a short name of the standard (``postmortem_required``, ``open_action_items``...).
    """

    def __init__(
        self, incident_id: str, state: str, trigger: str, standard: str, detail: str
    ) -> None:
        self.incident_id = incident_id
        self.state = state
        self.trigger = trigger
        self.standard = standard
        self.detail = detail
        super().__init__(
            f"incident {incident_id} ({state}): cannot {trigger}: {detail} [{standard}]"
        )


class ConcurrencyError(IncidentFlowError):
    """The incident changed since it was loaded: the append expected another version.

    Attributes:
        incident_id: the incident.
        expected_version: the version the writer had loaded.
        actual_version: the version in the store, where the store knows it (else None).
    """

    def __init__(
        self, incident_id: str, expected_version: int, actual_version: int | None = None
    ) -> None:
        self.incident_id = incident_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "" if actual_version is None else f", found {actual_version}"
        super().__init__(
            f"incident {incident_id} changed concurrently: "
            f"expected version {expected_version}{actual}"
        )


class IncidentNotFound(IncidentFlowError, KeyError):
    """No incident has this id (or no open incident matches this alert).

    Attributes:
        incident_id: the id that was looked up.
    """

    def __init__(self, incident_id: str, detail: str = "") -> None:
        self.incident_id = incident_id
        super().__init__(detail or f"no incident with id {incident_id!r}")

    def __str__(self) -> str:
        # KeyError would repr() the message; people read this one.
        return str(self.args[0])


class InvalidPolicy(IncidentFlowError, ValueError):
    """A policy (usually a TOML file) is wrong.

    Attributes:
        problems: every problem found, each as ``"path: what is wrong"``.
    """

    def __init__(self, problems: Sequence[str], source: str = "policy") -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source} has {len(self.problems)} problem(s):\n{lines}")


class InvalidPayload(IncidentFlowError, ValueError):
    """An inbound body (an alert webhook) cannot be read; nothing was changed."""


class InvalidSignature(InvalidPayload):
    """A webhook signature is wrong, missing or outside the replay window."""


class DeliveryError(IncidentFlowError):
    """A notifier, pager or publisher could not deliver a message.

    Adapters raise it with what the receiver said; the flow keeps the message pending and
    retries it later (at ``retry_after`` seconds when the receiver asked for a delay).

    Attributes:
        retry_after: seconds the receiver asked to wait (``Retry-After``), or None.
        permanent: the receiver refused the message itself (a 4xx): sending it again as it
            is will not help. It is still kept and retried, with backoff, so that a fix on the
            receiver's side (a re-invited bot, a corrected key) lets it through.
        status: the receiver's HTTP status, when it answered with one (None: no answer, or
            not an HTTP receiver); the service's log line says it.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        status: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.permanent = permanent
        self.status = status
        super().__init__(message)


class StorageError(IncidentFlowError):
    """A storage backend failed; the backend's own exception is chained as ``__cause__``."""
