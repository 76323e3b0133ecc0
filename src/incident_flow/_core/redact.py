"""RedactSecrets: a structlog processor that keeps tokens and keys out of log lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["RedactSecrets"]


class RedactSecrets:
    """Replaces every given secret with ``***`` in each log event, nested values included.

    incident_flow never logs a secret itself; add this processor (before the renderer) so
    that nothing else does either, say an exception text from a library::

        structlog.configure(processors=[RedactSecrets([slack_token, routing_key]), ...])

    Args:
        secrets: the values to hide (tokens, routing keys, webhook URLs, API keys). Values
            shorter than 4 characters are ignored, as hiding them would mangle ordinary text.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        found = {s for s in secrets if s and len(s) >= 4}
        self._secrets = sorted(found, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"RedactSecrets({len(self._secrets)} secrets)"

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Return the event with every secret replaced."""
        for key, value in list(event_dict.items()):
            event_dict[key] = self._clean(value)
        return event_dict

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, "***")
            return value
        if isinstance(value, Mapping):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, BaseException):
            return self._clean(f"{type(value).__name__}: {value}")
        return value
