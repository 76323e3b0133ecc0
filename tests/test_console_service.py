"""The console in the service: ``[console]`` read and checked, mounted at /ui, an optional extra."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from incident_flow.cli import main
from incident_flow.console import create_console, verify_password
from incident_flow.server import ConfigError, create_app
from incident_flow.server._config import config_from_mapping

from .console_kit import HASHES, PASSWORD, alert, csrf_of, make_flow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ENV = {"CONSOLE_SECRET": "a-console-signing-key"}


def settings(**console: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "secret": "${CONSOLE_SECRET}",
        "users": {"alice": HASHES["alice"]},
        "secure_cookie": False,
    }
    table.update(console)
    return {"store": {"sqlite": "x.db"}, "console": table}


class TestTheTable:
    """``[console]``: read, and every problem said with its path."""

    def test_logins(self, tmp_path: Path) -> None:
        config = config_from_mapping(settings(), environ=ENV, base=tmp_path)
        assert config.console is not None
        assert config.console.users == {"alice": HASHES["alice"]}
        assert str(config.console.secret) == ENV["CONSOLE_SECRET"]
        shown = "\n".join(config.describe()) + repr(config)
        assert "a login form for 1 people" in shown
        assert ENV["CONSOLE_SECRET"] not in shown and HASHES["alice"] not in shown

    def test_a_proxy(self, tmp_path: Path) -> None:
        data = {
            "console": {
                "proxy_header": "X-Auth-Request-User",
                "proxies": ["127.0.0.1", "10.1.0.0/16"],
                "refresh_seconds": 0,
                "session_hours": 1,
            }
        }
        config = config_from_mapping(data, environ={}, base=tmp_path)
        assert config.console is not None and config.console.trusts("10.1.2.3")
        assert config.console.refresh.total_seconds() == 0
        assert any("X-Auth-Request-User header" in line for line in config.describe())

    def test_no_console_by_default(self, tmp_path: Path) -> None:
        config = config_from_mapping({}, environ={}, base=tmp_path)
        assert config.console is None
        assert "console: off (no [console])" in config.describe()

    def test_every_problem(self, tmp_path: Path) -> None:
        data = {
            "console": {
                "proxy_header": "Not A Header!",
                "proxies": ["not-an-address"],
                "users": {"alice": "hunter2-in-clear", "b ob": HASHES["bob"]},
                "secret": "written-in-the-file",
                "secure_cookie": "yes",
                "session_hours": -1,
                "refresh_seconds": "often",
                "colour": "red",
            }
        }
        with pytest.raises(ConfigError) as caught:
            config_from_mapping(data, environ={}, base=tmp_path)
        problems = "\n".join(caught.value.problems)
        for path in (
            "console.proxy_header",
            "console.proxies[0]",
            "console.users.alice: must be a password hash",
            "console.users.b ob",
            "console.secret",
            "console.secure_cookie",
            "console.session_hours",
            "console.refresh_seconds",
            "console.colour",
        ):
            assert path in problems, path
        assert "hunter2" not in problems  # a password written in clear is never repeated

    @pytest.mark.parametrize(
        ("table", "said"),
        [
            ({}, "closed by default"),
            ({"users": {"alice": HASHES["alice"]}}, "needs secret"),
            ({"proxy_header": "X-Forwarded-User"}, "believed only from the proxies"),
            ([1], "must be a table"),
            ({"proxies": "10.0.0.1"}, "must be a list"),
            ({"users": ["alice"]}, "must be a table of name = hash"),
        ],
    )
    def test_closed_by_default(self, tmp_path: Path, table: Any, said: str) -> None:
        with pytest.raises(ConfigError, match=said):
            config_from_mapping({"console": table}, environ=ENV, base=tmp_path)


class TestMounted:
    """``create_app`` mounts the console at /ui, with the service's own flow."""

    def test_login_and_a_page_under_ui(self, tmp_path: Path) -> None:
        config = config_from_mapping(settings(), environ=ENV, base=tmp_path)
        flow = make_flow()
        app = create_app(flow, config, worker=False)
        with TestClient(app, follow_redirects=False) as browser:
            assert browser.get("/ui/").headers["location"] == "/ui/login?next=%2F"
            form = browser.get("/ui/login")
            assert 'action="/ui/login"' in form.text and "/ui/static/console.css" in form.text
            done = browser.post(
                "/ui/login",
                data={"csrf": csrf_of(form.text), "name": "alice", "password": PASSWORD},
            )
            assert done.status_code == 303 and done.headers["location"] == "/ui/"
            page = browser.get("/ui/")
            assert page.status_code == 200 and 'href="/ui/incidents"' in page.text
            assert browser.get("/ui/static/console.css").status_code == 200
            assert browser.get("/ui/static/console.js").status_code == 200
            assert browser.get("/healthz").status_code == 200

    def test_serve_says_how_the_console_is_proved(self, tmp_path: Path) -> None:
        from incident_flow.testing import capture_events

        config = config_from_mapping(settings(), environ=ENV, base=tmp_path)
        app = create_app(make_flow(), config, worker=False)
        with capture_events() as events, TestClient(app):
            pass
        said = [e for e in events if e["event"] == "incident_flow.console"]
        assert said == [
            {
                "event": "incident_flow.console",
                "route": "/ui",
                "proof": "a login form for 1 people (hashed)",
                "log_level": "info",
            }
        ]

    def test_on_the_configured_sqlite_store(self, tmp_path: Path) -> None:
        """What serve runs: the configured store (SQLite behind its thread), the proxy header."""
        from incident_flow.server import async_flow

        data = {
            "store": {"sqlite": "console.db"},
            "policy": {"people": [{"name": "alice", "email": ["alice@example.com"]}]},
            "console": {"proxy_header": "X-Forwarded-Email", "proxies": ["127.0.0.1"]},
        }
        config = config_from_mapping(data, environ={}, base=tmp_path)
        flow = async_flow(config)
        app = create_app(flow, config, worker=False)
        headers = {"X-Forwarded-Email": "alice@example.com"}
        with TestClient(
            app, base_url="https://testserver", client=("127.0.0.1", 1), follow_redirects=False
        ) as browser:
            incident = browser.portal.call(flow.trigger, alert(1))  # type: ignore[union-attr]
            listed = browser.get("/ui/?state=all", headers=headers)
            assert listed.status_code == 200 and incident.id in listed.text
            page = browser.get(f"/ui/incidents/{incident.id}", headers=headers)
            answer = browser.post(
                f"/ui/incidents/{incident.id}/acknowledge",
                data={"csrf": csrf_of(page.text)},
                headers=headers,
            )
            assert answer.status_code == 303
            done = browser.portal.call(flow.get, incident.id)  # type: ignore[union-attr]
        assert done.acknowledged_by == "alice"

    def test_no_console_without_the_table(self, tmp_path: Path) -> None:
        config = config_from_mapping({}, environ={}, base=tmp_path)
        app = create_app(make_flow(), config, worker=False)
        with TestClient(app) as browser:
            assert browser.get("/ui/").status_code == 404


class TestTheExtra:
    """The library, the command line and the service's API import without Jinja2."""

    def test_nothing_else_needs_jinja2(self) -> None:
        code = (
            "import sys; sys.modules['jinja2'] = None\n"
            "import incident_flow, incident_flow.server, incident_flow.cli, incident_flow.console\n"
            "from incident_flow.console import hash_password, ConsoleConfig\n"
            "try:\n"
            "    incident_flow.console.create_console(None, None)\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert "pip install 'incident-flow[ui]'" in done.stdout

    def test_hash_password_needs_neither_starlette_nor_jinja2(self) -> None:
        code = (
            "import sys; sys.modules['jinja2'] = None; sys.modules['starlette'] = None\n"
            "from click.testing import CliRunner\n"
            "from incident_flow.cli import main\n"
            "done = CliRunner().invoke(main, ['console', 'hash-password', '--password', 'a' * 9])\n"
            "print(done.exit_code, done.output)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert done.stdout.startswith("0 scrypt$")

    def test_the_templates_ship_in_the_package(self) -> None:
        import incident_flow.console as package

        root = Path(package.__file__).parent
        for name in ("base.html", "incidents.html", "incident.html", "login.html", "error.html"):
            assert (root / "templates" / name).is_file()
        assert (root / "static" / "console.css").is_file()

    def test_create_console_takes_the_flow(self) -> None:
        app = create_console(make_flow(), config_from_mapping(settings(), environ=ENV).console)  # type: ignore[arg-type]
        assert app.state.console.flow is not None


class TestHashPassword:
    """``incident-flow console hash-password`` prints a hash, never the password."""

    def test_prints_a_hash(self) -> None:
        done = CliRunner().invoke(
            main, ["console", "hash-password"], input="long enough\nlong enough\n"
        )
        assert done.exit_code == 0, done.output
        hashed = done.output.strip().splitlines()[-1]
        assert hashed.startswith("scrypt$") and verify_password("long enough", hashed)

    def test_a_short_password_is_refused(self) -> None:
        done = CliRunner().invoke(main, ["console", "hash-password", "--password", "short"])
        assert done.exit_code == 2
        assert "at least 8" in done.output
