"""The service's one configuration file: the policy, the store, the channels, the inbound sources.

Secrets are never written in the file: ``token = "${SLACK_BOT_TOKEN}"`` names an environment
variable, read when the file is loaded. A :class:`Secret` prints as ``'***'`` wherever it goes
(a repr, a log line, an error), so ``config check`` can show what it read without leaking it.
Every problem is reported at once, each with its path, like the policy's.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from .._core.policy import Policy
from .._core.text import unknown_key
from ..console._settings import ConsoleConfig, read_console
from ..exceptions import IncidentFlowError, InvalidPolicy
from ..ingest import SIGNED_SOURCES, sources
from ..ingest.signatures import OPSGENIE_HEADER

__all__ = ["ConfigError", "Secret", "ServiceConfig", "SourceConfig", "load_config"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
#: The inbound action vendors (issue 9) and the alert sources a service may receive.
_ACTION_SOURCES = ("pagerduty", "opsgenie", "github", "slack", "jira")


class ConfigError(IncidentFlowError, ValueError):
    """The configuration file has problems; ``problems`` lists every one with its path."""

    def __init__(self, problems: list[str], source: str) -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class Secret(str):
    """A secret read from the environment: a ``str`` whose repr and str-in-f-strings hide it.

    ``str(secret)`` still gives the value (adapters need it); ``repr`` and ``format`` give
    ``'***'``, so a config printed, logged or put in an error never shows it.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"

    def __format__(self, spec: str) -> str:
        return "***"


@attrs.frozen(kw_only=True)
class SourceConfig:
    """One inbound source: its secret (a signature key or a shared token).

    Closed by default: a source with no secret refuses every request, unless ``insecure`` is
    set (``insecure = true`` in the file), which ``serve`` announces and ``/readyz`` reports.
    """

    name: str
    secret: Secret | None = None
    #: The header carrying the shared token or signature, where the source lets you choose it.
    header: str | None = None
    #: Accept requests without proof (no secret): said at start-up and by ``/readyz``.
    insecure: bool = False

    @property
    def proof(self) -> str:
        """How its requests prove the caller, in words (``config check`` prints it)."""
        if self.secret is None:
            return "INSECURE: no secret, anyone can call it (insecure = true)"
        if self.name in SIGNED_SOURCES and self.name != "opsgenie":
            return "signed (HMAC with the secret)"
        return f"shared token in the {self.header or OPSGENIE_HEADER} header"


@attrs.frozen(kw_only=True)
class ServiceConfig:
    """What ``incident-flow serve`` runs, read by :func:`load_config`.

    Attributes:
        policy: the standards (``[policy]``, or ``policy_file``).
        store: a SQLite path or a PostgreSQL DSN (``[store] sqlite =`` / ``postgres =``).
        schema: the PostgreSQL schema (``[store] schema``, default ``public``).
        slack: ``token``, ``channel``, ``signing_secret`` (or ``webhook_url``), or None.
        pagerduty: ``routing_key``, optional ``url``, or None.
        opsgenie: ``api_key``, optional ``url``, or None.
        twilio: ``account_sid``, ``auth_token``, ``from_number``, optional ``api_url``, or None:
            pages people by text message (their ``phone`` in the policy's people).
        webhook: ``url``, optional ``secret``, or None (a notifier beside Slack).
        publisher: ``kind`` = ``folder`` | ``git`` | ``github`` and its settings.
        tracker: the credentials of the tracker the policy's ``[tracker]`` exports to:
            ``kind`` = ``github`` (``token``, optional ``api_url``) or ``jira`` (``site``,
            ``email``, ``api_token``), or None.
        sources: the alert sources the service accepts, by name, with their secrets.
        actions: the vendors whose webhooks bring responders' actions, with their secrets.
        host, port: where ``serve`` listens.
        max_body: the largest request body accepted, in bytes.
        body_timeout: how long a client may take to send its body (a slow one gets 408).
        worker_interval, review_poll_every: the worker's pace.
        api_token: the bearer token the API (``/api/silences``) asks for; None: no API.
        metrics_token: the bearer token ``/metrics`` asks for; None: anyone may scrape.
        console: the web console's settings (``[console]``; None: no console at ``/ui``).
        origin: the file it was read from.
    """

    policy: Policy = attrs.field(factory=Policy.default)
    store: str = attrs.field(default="incident-flow.db", repr=lambda s: repr(_redact_dsn(s)))
    schema: str = "public"
    slack: Mapping[str, Any] | None = None
    pagerduty: Mapping[str, Any] | None = None
    opsgenie: Mapping[str, Any] | None = None
    twilio: Mapping[str, Any] | None = None
    webhook: Mapping[str, Any] | None = None
    publisher: Mapping[str, Any] = attrs.field(factory=lambda: {"kind": "folder"})
    tracker: Mapping[str, Any] | None = None
    sources: Mapping[str, SourceConfig] = attrs.field(factory=dict)
    actions: Mapping[str, SourceConfig] = attrs.field(factory=dict)
    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 1_048_576
    body_timeout: timedelta = timedelta(seconds=10)
    worker_interval: timedelta = timedelta(seconds=5)
    review_poll_every: timedelta | None = timedelta(minutes=2)
    api_token: Secret | None = None
    metrics_token: Secret | None = None
    console: ConsoleConfig | None = None
    origin: str = "config"

    def describe(self) -> list[str]:
        """What it configures, one line each, secrets hidden (``config check`` prints it)."""
        lines = [f"store: {_redact_dsn(self.store)}"]
        for name in ("slack", "pagerduty", "opsgenie", "twilio", "webhook", "tracker"):
            section = getattr(self, name)
            if section:
                shown = ", ".join(f"{k}={v!r}" for k, v in section.items())
                lines.append(f"{name}: {shown}")
        publisher = ", ".join(f"{k}={v!r}" for k, v in self.publisher.items())
        lines.append(f"publisher: {publisher}")
        lines.extend(
            f"{what} {source.name}: {source.proof}"
            for what, table in (("source", self.sources), ("actions", self.actions))
            for source in table.values()
        )
        if self.slack and self.slack.get("signing_secret"):
            workspace = f"workspace {self.slack.get('team_id')}"
            if self.slack.get("api_app_id"):
                workspace += f", app {self.slack.get('api_app_id')}"
            command = self.slack.get("command") or "/incident"
            lines.append(f"slack requests: signed, {workspace}, command {command}")
        lines.append(f"serve on {self.host}:{self.port}, bodies up to {self.max_body} bytes")
        lines.append("api: " + ("bearer token" if self.api_token else "off (no server.api_token)"))
        lines.extend(self.console.describe() if self.console else ["console: off (no [console])"])
        lines.extend(f"WARNING: {route} accepts requests without proof" for route in self.insecure)
        return lines

    @property
    def insecure(self) -> tuple[str, ...]:
        """The routes set to accept requests without proof (``insecure = true``), by path."""
        return tuple(
            f"{what}.{source.name}"
            for what, table in (("sources", self.sources), ("actions", self.actions))
            for source in table.values()
            if source.secret is None and source.insecure
        )


def _redact_dsn(store: str) -> str:
    """The store as it may be shown: a DSN's password (``user:pw@``, ``password=pw``) hidden."""
    shown = re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", store)
    return re.sub(r"password=[^&\s]*", "password=***", shown)


_TOP = (
    "policy",
    "policy_file",
    "store",
    "slack",
    "pagerduty",
    "opsgenie",
    "twilio",
    "webhook",
    "publisher",
    "tracker",
    "sources",
    "actions",
    "server",
    "worker",
    "console",
)
_SECTION_KEYS = {
    "slack": {
        "token",
        "channel",
        "signing_secret",
        "webhook_url",
        "api_url",
        "dm_pager",
        "team_id",
        "api_app_id",
        "command",
    },
    "pagerduty": {"routing_key", "url"},
    "opsgenie": {"api_key", "url"},
    "twilio": {"account_sid", "auth_token", "from_number", "api_url"},
    "webhook": {"url", "secret"},
    "publisher": {"kind", "folder", "repository", "token", "base", "remote", "api_url"},
    "tracker": {"kind", "token", "api_url", "site", "email", "api_token"},
}
_SECRETS = {
    "token",
    "signing_secret",
    "webhook_url",
    "routing_key",
    "api_key",
    "secret",
    "auth_token",
    "api_token",
}
#: Keys that are true or false rather than text.
_FLAGS = {"dm_pager"}


class _Reader:
    """Reads the file, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str], base: Path) -> None:
        self.environ = environ
        self.base = base
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def value(self, path: str, raw: object) -> object:
        """``${NAME}`` replaced from the environment (a missing variable is a problem)."""
        if not isinstance(raw, str) or "${" not in raw:
            return raw

        def swap(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.environ:
                self.problem(path, f"the environment variable {name} is not set")
                return ""
            return self.environ[name]

        return _ENV.sub(swap, raw)

    def secret(self, path: str, raw: object) -> Secret | None:
        """A secret: ``${NAME}`` only, set and not empty (else a problem, and None)."""
        if raw is None:
            return None
        if not isinstance(raw, str) or "${" not in raw:
            self.problem(path, "a secret must come from the environment: write ${SOME_VARIABLE}")
            return None
        before = len(self.problems)
        value = self.value(path, raw)
        if len(self.problems) > before:
            return None  # not set: said already
        if not isinstance(value, str) or not value.strip():
            names = ", ".join(_ENV.findall(raw))
            self.problem(path, f"the environment variable {names} is empty: a secret is needed")
            return None
        return Secret(value)

    def section(self, name: str, data: object) -> dict[str, Any] | None:
        if data is None:
            return None
        if not isinstance(data, Mapping):
            self.problem(name, f"must be a table, got {data!r}")
            return None
        out: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in _SECTION_KEYS[name]:
                self.problem(f"{name}.{key}", unknown_key(key, sorted(_SECTION_KEYS[name])))
                continue
            if key in _FLAGS:
                if not isinstance(raw, bool):
                    self.problem(f"{name}.{key}", f"must be true or false, got {raw!r}")
                else:
                    out[key] = raw
                continue
            if key in _SECRETS:
                # Kept as given even when unset (an empty Secret): the checks that follow
                # ask what was written, and must not add a false problem on top.
                secret = self.secret(f"{name}.{key}", raw)
                out[key] = secret if secret is not None else Secret("")
                continue
            value = self.value(f"{name}.{key}", raw)
            if not isinstance(value, str):
                self.problem(f"{name}.{key}", f"must be a string, got {type(value).__name__}")
                continue
            out[key] = value
        return out

    def sources(self, name: str, data: object, known: tuple[str, ...]) -> dict[str, SourceConfig]:
        out: dict[str, SourceConfig] = {}
        if data is None:
            return out
        if not isinstance(data, Mapping):
            self.problem(name, f"must be a table of sources, got {data!r}")
            return out
        for source, settings in data.items():
            path = f"{name}.{source}"
            if source not in known:
                self.problem(path, unknown_key(source, known, "source"))
                continue
            table: Mapping[str, Any] = settings if isinstance(settings, Mapping) else {}
            for key in table:
                if key not in ("secret", "header", "insecure"):
                    self.problem(
                        f"{path}.{key}", unknown_key(key, ("header", "insecure", "secret"))
                    )
            insecure = table.get("insecure", False)
            if not isinstance(insecure, bool):
                self.problem(f"{path}.insecure", f"must be true or false, got {insecure!r}")
                insecure = False
            secret_raw = table.get("secret")
            secret = self.secret(f"{path}.secret", secret_raw)
            if secret_raw is None and not insecure:
                kind = "signing secret" if source in SIGNED_SOURCES else "shared token"
                self.problem(
                    f"{path}.secret",
                    f'missing: give the {kind} (secret = "${{SOME_VARIABLE}}"), or anyone '
                    "can call this route; insecure = true accepts requests without proof",
                )
            elif secret_raw is not None and insecure:
                self.problem(f"{path}.insecure", "a source with a secret is not insecure")
            header = table.get("header")
            out[source] = SourceConfig(
                name=source,
                secret=secret,
                header=str(header) if header else None,
                insecure=insecure,
            )
        return out

    def duration(self, path: str, raw: object, default: timedelta | None) -> timedelta | None:
        if raw is None:
            return default
        if raw in (False, "off", "never"):
            return None
        match = _DURATION.match(str(raw))
        if not match or isinstance(raw, bool):
            self.problem(path, f"must be a duration like '5s' or '2m', got {raw!r}")
            return default
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])

    def integer(self, path: str, raw: object, default: int, low: int, high: int) -> int:
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            self.problem(path, f"must be a whole number from {low} to {high}, got {raw!r}")
            return default
        return raw


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Read and check a service configuration file.

    Raises:
        ConfigError: the file is missing, not TOML, or has problems (all listed, with paths).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read: {exc.strerror or exc}"], source) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source) from exc
    return config_from_mapping(
        data, source=source, environ=environ, base=Path(path).resolve().parent
    )


def config_from_mapping(
    data: Mapping[str, Any],
    *,
    source: str = "config",
    environ: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> ServiceConfig:
    """Build the configuration from parsed TOML (see :func:`load_config`)."""
    reader = _Reader(os.environ if environ is None else environ, base or Path.cwd())
    for key in data:
        if key not in _TOP:
            reader.problem(key, unknown_key(key, _TOP))
    policy = Policy.default()
    try:
        if "policy_file" in data:
            policy_path = reader.base / str(data["policy_file"])
            policy = Policy.from_toml(policy_path)
        elif isinstance(data.get("policy"), Mapping):
            policy = Policy.from_mapping(data["policy"], source=f"{source} [policy]")
    except InvalidPolicy as exc:
        reader.problems.extend(f"policy: {p}" for p in exc.problems)
    store = _store(reader, data.get("store"))
    schema = _schema(reader, data.get("store"))
    sections = {name: reader.section(name, data.get(name)) for name in _SECTION_KEYS}
    publisher = sections["publisher"] or {"kind": "folder"}
    _check_publisher(reader, publisher)
    if sections["slack"] is not None:
        _check_slack(reader, sections["slack"])
        _check_team_channels(reader, sections["slack"], policy)
    _check_twilio(reader, sections["twilio"])
    _check_tracker(reader, sections["tracker"], policy)
    server = _table(
        reader,
        data,
        "server",
        ("host", "port", "max_body", "body_timeout", "api_token", "metrics_token"),
    )
    token = reader.secret("server.api_token", server.get("api_token"))
    metrics = reader.secret("server.metrics_token", server.get("metrics_token"))
    worker = _table(reader, data, "worker", ("interval", "review_poll_every"))
    config = ServiceConfig(
        policy=policy,
        store=store,
        schema=schema,
        slack=sections["slack"],
        pagerduty=sections["pagerduty"],
        opsgenie=sections["opsgenie"],
        twilio=sections["twilio"],
        webhook=sections["webhook"],
        publisher=publisher,
        tracker=sections["tracker"],
        sources=reader.sources("sources", data.get("sources"), sources()),
        actions=reader.sources("actions", data.get("actions"), _ACTION_SOURCES),
        host=str(server.get("host", "127.0.0.1")),
        port=reader.integer("server.port", server.get("port"), 8080, 1, 65535),
        max_body=reader.integer(
            "server.max_body", server.get("max_body"), 1_048_576, 1024, 64 * 1_048_576
        ),
        body_timeout=reader.duration("server.body_timeout", server.get("body_timeout"), None)
        or timedelta(seconds=10),
        worker_interval=reader.duration("worker.interval", worker.get("interval"), None)
        or timedelta(seconds=5),
        review_poll_every=reader.duration(
            "worker.review_poll_every", worker.get("review_poll_every"), timedelta(minutes=2)
        ),
        api_token=token,
        metrics_token=metrics,
        console=read_console(reader, data.get("console")),
        origin=source,
    )
    if reader.problems:
        raise ConfigError(reader.problems, source)
    return config


def _table(
    reader: _Reader, data: Mapping[str, Any], name: str, known: tuple[str, ...]
) -> Mapping[str, Any]:
    table = data.get(name) or {}
    if not isinstance(table, Mapping):
        reader.problem(name, f"must be a table, got {table!r}")
        return {}
    for key in table:
        if key not in known:
            reader.problem(f"{name}.{key}", unknown_key(key, known))
    return table


def _store(reader: _Reader, data: object) -> str:
    """The store: a SQLite path (relative to the file) or a PostgreSQL DSN."""
    if data is None:
        return str(reader.base / "incident-flow.db")
    kinds = [k for k in data if k in ("sqlite", "postgres")] if isinstance(data, Mapping) else []
    if not isinstance(data, Mapping) or len(kinds) != 1:
        reader.problem("store", 'must be one of: sqlite = "path", postgres = "${DATABASE_URL}"')
        return "incident-flow.db"
    for key in data:
        if key not in ("sqlite", "postgres", "schema"):
            reader.problem(f"store.{key}", unknown_key(key, ("postgres", "schema", "sqlite")))
    kind = kinds[0]
    value = reader.value(f"store.{kind}", data[kind])
    if not isinstance(value, str) or not value:
        reader.problem(f"store.{kind}", "must be a non-empty string")
        return "incident-flow.db"
    if kind == "postgres" and not value.startswith(("postgresql://", "postgres://")):
        reader.problem("store.postgres", "must be a postgresql:// DSN")
    if kind == "sqlite":
        return str(reader.base / value)
    return value


def _schema(reader: _Reader, data: object) -> str:
    schema = data.get("schema", "public") if isinstance(data, Mapping) else "public"
    if not isinstance(schema, str) or not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        reader.problem("store.schema", f"must be a lower-case SQL name, got {schema!r}")
        return "public"
    return schema


def _check_publisher(reader: _Reader, publisher: dict[str, Any]) -> None:
    kind = publisher.get("kind", "folder")
    needs = {"folder": (), "git": ("repository",), "github": ("repository", "token")}
    if kind not in needs:
        reader.problem("publisher.kind", f"must be folder, git or github, got {kind!r}")
        return
    for key in needs[kind]:
        if key not in publisher:  # written but unset: its own problem, said once
            reader.problem(f"publisher.{key}", f"a {kind} publisher needs it")


def _check_tracker(reader: _Reader, tracker: dict[str, Any] | None, policy: Policy) -> None:
    """The tracker's credentials are complete and of the kind the policy exports to."""
    wanted = {p.tracker.kind for p in map(policy.for_team, policy.team_names) if p.tracker}
    if tracker is None:
        if wanted:
            reader.problem("tracker", "the policy's [tracker] exports items: give its credentials")
        return
    kind = tracker.get("kind")
    needs = {"github": ("token",), "jira": ("site", "email", "api_token")}
    if kind not in needs:
        reader.problem("tracker.kind", f"must be github or jira, got {kind!r}")
        return
    for key in needs[kind]:
        if key not in tracker:
            reader.problem(f"tracker.{key}", f"a {kind} tracker needs it")
    if wanted and wanted != {kind}:
        reader.problem("tracker.kind", f"the policy's [tracker] is {', '.join(sorted(wanted))}")


def _check_twilio(reader: _Reader, twilio: dict[str, Any] | None) -> None:
    for key in ("account_sid", "auth_token", "from_number"):
        if twilio is not None and not twilio.get(key):
            reader.problem(f"twilio.{key}", "missing")


def _check_team_channels(reader: _Reader, slack: dict[str, Any], policy: Policy) -> None:
    """Refuse team channels Slack cannot reach: an incoming webhook posts to its one channel.

    Each team's incidents would land in the webhook's channel, not the team's (nothing would
    say so): the service refuses to start instead, naming the teams.
    """
    if "webhook_url" not in slack or "token" in slack:
        return
    named = [f"{t.name} ({t.chat_channel!r})" for t in policy.teams if t.chat_channel]
    if named:
        reader.problem(
            "slack.webhook_url",
            "an incoming webhook posts to its own channel only, but teams name theirs: "
            f"{', '.join(named)}; give a bot token (token, channel) to post in each team's "
            "channel, or remove the teams' chat_channel",
        )


def _check_slack(reader: _Reader, slack: dict[str, Any]) -> None:
    # What was written counts here, set or not: an unset variable is its own problem.
    if ("token" in slack) == ("webhook_url" in slack):
        reader.problem("slack", "give token (with channel) or webhook_url, not both")
    if "token" in slack and not slack.get("channel"):
        reader.problem("slack.channel", "a bot token needs the channel to post to")
    if slack.get("dm_pager") and "token" not in slack:
        reader.problem("slack.dm_pager", "paging by direct message needs the bot token")
    if "signing_secret" in slack and not slack.get("team_id"):
        reader.problem(
            "slack.team_id",
            "Slack's requests are accepted from one workspace: give its team id (T...), "
            "as Slack sends it in every request",
        )
    for key in ("team_id", "api_app_id"):
        if key in slack and "signing_secret" not in slack:
            reader.problem(f"slack.{key}", "only with signing_secret (Slack's requests)")
    command = slack.get("command")
    if command is not None and not re.fullmatch(r"/[a-z0-9_-]{1,31}", command):
        reader.problem("slack.command", f"must be a slash command like /incident, got {command!r}")
