"""Every command the README, the docs and the sample configuration show runs as printed.

The shell blocks of README.md and docs/**/*.md (fenced ``sh``, ``bash``, ``shell`` and
``console``, and plain fences whose first command is ``incident-flow``), and the commands in
the opening comment of examples/incident-flow.toml, are read line by line and run in order, one
fresh folder per page holding what the docs assume (``clone``):

- ``incident-flow ...`` with click's runner (the package's own command line, in-process);
- ``incident-flow ... serve`` too: its server listens on a free loopback port until the page
  ends, for the page's ``curl`` lines (any host they name), without its worker, so nothing
  reaches Slack;
- ``python ...`` with this interpreter; ``export``, ``cp``, ``NAME=value cmd``, ``> file``,
  ``a && b``, ``\\`` continuations, ``#`` comments and ``$NAME`` as a shell reads them.

A block titled with a file name (```` ```toml title="policy.toml" ````) is written to that file
where it stands, as the reader would. In ``console`` blocks the commands are the ``$ `` lines,
and the lines under one are output it must print. An id the docs show (``sil-...``,
``ovr-...``) stands for the one the commands before it printed.

A line that cannot run here is skipped only when ``SKIPPED`` lists it with its reason, and
``test_the_skipped_lines_are_exactly_the_listed_ones`` keeps that list from growing silently. A
command that fails names its page and line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

import incident_flow.server
from incident_flow.cli import main

from .test_server import free_port

ROOT = Path(__file__).parents[1]
SAMPLES = Path(__file__).with_name("samples")
EXAMPLE_CONFIG = ROOT / "examples" / "incident-flow.toml"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), EXAMPLE_CONFIG]
SHELL_FENCES = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)(?P<rest>[^`]*)$")
IDS = re.compile(r"\b(?P<kind>sil|ovr)-[0-9a-f]{6,}\b")
ID_IN_DOCS = re.compile(r"\b(?P<kind>sil|ovr)-[0-9a-f]*(\.\.\.|…)?")

NEEDS_PIP = "installs packages: this test runs in the installed package"
NEEDS_THE_NETWORK = "fetches from the vendor's API with a read-only key"
RUNS_THE_SUITE = "the whole test suite: this test is part of it"
SERVES_THE_SITE = "serves the site until stopped"
BUILDS_THE_SITE = "builds the whole site (slow): CI's docs job runs it"
MUTATES = "a mutation run: hours on two cores, run by hand (docs/testing.md)"

#: (page, command as written) -> why it cannot run here. Nothing else is skipped.
SKIPPED: dict[tuple[str, str], str] = {
    ("README.md", "pip install '.[cli]'"): NEEDS_PIP,
    ("README.md", "pip install -e '.[all,test]'"): NEEDS_PIP,
    ("README.md", "pytest"): RUNS_THE_SUITE,
    ("docs/getting-started.md", "pip install 'incident-flow[cli]'"): NEEDS_PIP,
    ("docs/index.md", "pip install -e '.[docs]'"): NEEDS_PIP,
    ("docs/index.md", "mkdocs serve"): SERVES_THE_SITE,
    ("docs/index.md", "mkdocs build --strict"): BUILDS_THE_SITE,
    ("docs/server.md", "pip install 'incident-flow[cli,server]'"): NEEDS_PIP,
    ("docs/importing.md", "incident-flow import opsgenie --save fetched.json -o imported.toml"): (
        NEEDS_THE_NETWORK
    ),
    (
        "docs/importing.md",
        (
            "incident-flow import grafana-oncall --url https://oncall.example.com/"
            " --allow-host calendar.google.com -o imported.toml"
        ),
    ): NEEDS_THE_NETWORK,
    ("docs/testing.md", "pip install -e '.[test,mutation]'"): NEEDS_PIP,
    ("docs/testing.md", "HYPOTHESIS_PROFILE=mutation mutmut run --max-children 2"): MUTATES,
    ("docs/testing.md", "mutmut results"): MUTATES,
    (
        "docs/testing.md",
        (
            "HYPOTHESIS_PROFILE=mutation mutmut run --max-children 2"
            " 'incident_flow.ingest.signatures*'"
        ),
    ): MUTATES,
    (
        "docs/testing.md",
        "HYPOTHESIS_PROFILE=mutation mutmut run --max-children 2 'incident_flow.schedules.*'",
    ): MUTATES,
}


# ----------------------------------------------------------------------------- reading pages


@dataclass(frozen=True)
class Command:
    """One command of a page's shell block, as a person would type it."""

    page: str
    line: int
    text: str
    output: tuple[str, ...] = ()  # what a console block shows it printing

    @property
    def where(self) -> str:
        """``page:line``, for failures."""
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class File:
    """A block titled with a file name: the reader writes it before going on."""

    page: str
    line: int
    name: str
    text: str


def _relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(page: Path) -> Iterator[tuple[str, str, int, list[str]]]:
    """Each fenced block of a Markdown page: its language, title, first line and lines.

    A TOML file's opening comment is one shell block (its indented ``incident-flow`` lines).
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    if page.suffix == ".toml":
        for number, line in enumerate(lines, 1):
            if not line.startswith("#"):
                break
            if line.removeprefix("#").strip().startswith("incident-flow "):
                yield "sh", "", number, [line.removeprefix("#").strip()]
        return
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        title = re.search(r'title="([^"]+)"', opening["rest"])
        start, body = index + 1, []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:])
            index += 1
        index += 1
        yield opening["info"].lower(), title[1] if title else "", start, body


def _is_shell(info: str, body: list[str]) -> bool:
    if info in SHELL_FENCES:
        return True
    if info:
        return False
    first = next((line for line in body if line.strip() and not line.startswith("#")), "")
    return first.removeprefix("$ ").startswith("incident-flow ")


def steps(page: Path) -> list[Command | File]:
    """The files and commands of ``page``, in order: continuations joined, ``&&`` parts apart."""
    found: list[Command | File] = []
    for info, title, start, body in _blocks(page):
        if not _is_shell(info, body):
            if title:
                found.append(File(_relative(page), start, title, "\n".join(body) + "\n"))
            continue
        console = info == "console"
        pending: list[str] = []
        pending_line = 0
        for offset, raw in enumerate(body):
            line = raw.rstrip()
            if console and not pending and not line.startswith("$ "):
                last = found[-1] if found else None
                if isinstance(last, Command) and last.page == _relative(page) and line.strip():
                    found[-1] = Command(last.page, last.line, last.text, (*last.output, line))
                continue
            text = line.removeprefix("$ ") if console and not pending else line
            if not pending:
                pending_line = start + offset
            pending.append(text.removesuffix("\\").strip())
            if text.endswith("\\") or _open_quote(" ".join(pending)):
                continue
            joined = " ".join(pending)
            pending = []
            found.extend(
                Command(_relative(page), pending_line, part) for part in _and_parts(joined)
            )
    return found


def _open_quote(text: str) -> bool:
    """True while a quoted string goes on to the next line."""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def _and_parts(text: str) -> list[str]:
    """``a && b`` as ``a`` and ``b``, comments dropped, each as written (quoted where needed)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="&")
    lexer.whitespace_split = True
    parts: list[list[str]] = [[]]
    for word in lexer:
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    return [" ".join(w if w == ">" else shlex.quote(w) for w in part) for part in parts if part]


def commands(page: Path) -> list[Command]:
    """The commands of ``page``'s shell blocks."""
    return [step for step in steps(page) if isinstance(step, Command)]


ALL_STEPS = [step for page in PAGES for step in steps(page)]
ALL_COMMANDS = [step for step in ALL_STEPS if isinstance(step, Command)]
RUN_PAGES = sorted({command.page for command in ALL_COMMANDS})


# ------------------------------------------------------------------------ what the docs assume


#: The store, policy and configuration of whoever runs the tests do not leak in.
OUR_VARIABLES = ("INCIDENT_FLOW_DB", "INCIDENT_FLOW_POLICY", "INCIDENT_FLOW_CONFIG")


def _secrets_of(text: str) -> set[str]:
    return set(re.findall(r"^[^#\n]*\$\{(\w+)\}", text, re.M))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as the docs assume one: a clone's examples/ and docs/, `incident-flow init`'s
    database, the demo's database, the seed's Alerts table as process.md, and the vendor answers
    the import page names (one JSON answer per file, and what `--save fetched.json` keeps)."""
    folder = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(ROOT / "docs", folder / "docs")
    shutil.copy(SAMPLES / "seed_alerts_table.md", folder / "process.md")
    imports = SAMPLES / "imports"
    answers = json.loads((imports / "e2e_pagerduty.json").read_text(encoding="utf-8"))
    for name in ("schedule", "users", "escalation_policy"):
        answer = next(answer for answer in answers if name in answer)
        (folder / f"{name}.json").write_text(json.dumps(answer), encoding="utf-8")
    shutil.copy(imports / "e2e_opsgenie.json", folder / "fetched.json")
    with contextlib.chdir(folder):
        for args in (["init"], ["demo"]):
            result = CliRunner().invoke(main, args, env=dict.fromkeys(OUR_VARIABLES))
            assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command line configures the library's logging as a host does; put it back."""
    library = logging.getLogger("incident_flow")
    handlers, level = list(library.handlers), library.level
    yield
    library.handlers[:] = handlers
    library.setLevel(level)


# ------------------------------------------------------------------------------ running them


class Shell:
    """Runs a page's commands one after another in one folder, as a person at a prompt."""

    def __init__(
        self, folder: Path, monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack
    ) -> None:
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.ids: dict[str, str] = {}
        self.service: Any = None  # the URL the page's `serve` listens on
        real_create_app = incident_flow.server.create_app
        monkeypatch.setattr(
            incident_flow.server,
            "create_app",
            lambda flow, config: real_create_app(flow, config, worker=False),
        )
        real_run = uvicorn.Server.run

        def run_in_the_background(server: uvicorn.Server) -> None:
            """serve's own uvicorn server, on a free loopback port, until the page ends."""
            server.config.host, server.config.port = "127.0.0.1", free_port()
            thread = threading.Thread(target=real_run, args=(server,), daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.01)
            self.service = f"http://127.0.0.1:{server.config.port}"
            stack.callback(thread.join, 10)
            stack.callback(setattr, server, "should_exit", True)

        monkeypatch.setattr(uvicorn.Server, "run", run_in_the_background)

    def run(self, command: Command) -> None:
        """Run ``command``; fail naming its page and line unless it exits 0."""
        env, (program, *args), target = self._read(command)
        if program == "export":
            for assignment in args:
                name, _, value = assignment.partition("=")
                self.monkeypatch.setenv(name, value)
            return
        if program == "cp":
            shutil.copy(self.folder / args[0], self.folder / args[1])
            return
        if program == "incident-flow":
            code, output, stdout = self._cli(args, env)
        elif program in {"python", "python3"}:
            code, output, stdout = self._python(args, env)
        elif program == "curl":
            code, output, stdout = self._curl(args, command)
        else:
            pytest.fail(f"{command.where}: the docs test cannot run `{command.text}`")
        if code != 0:
            pytest.fail(f"{command.where}: `{command.text}` exited {code}:\n{output}")
        for shown in command.output:
            assert " ".join(shown.split()) in " ".join(output.split()), (
                f"{command.where}: `{command.text}` did not print {shown!r}:\n{output}"
            )
        if target is not None:
            (self.folder / target).write_text(stdout, encoding="utf-8")
        for found in IDS.finditer(output):
            self.ids[found["kind"]] = found[0]

    def _read(self, command: Command) -> tuple[dict[str, str], list[str], str | None]:
        """The command's ``NAME=value`` prefix, its words ($NAME and ids filled in), and the
        file its ``> file`` sends stdout to."""
        words = [self._id(os.path.expandvars(w), command) for w in shlex.split(command.text)]
        env: dict[str, str] = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if ">" in words:
            at = words.index(">")
            return env, words[:at], words[at + 1]
        return env, words, None

    def _id(self, word: str, command: Command) -> str:
        def printed(shown: re.Match[str]) -> str:
            if shown["kind"] not in self.ids:
                pytest.fail(f"{command.where}: {shown[0]} is no id a command before it printed")
            return self.ids[shown["kind"]]

        return ID_IN_DOCS.sub(printed, word)

    def _cli(self, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, args, env=env)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            output += "".join(traceback.format_exception(*result.exc_info))
        return result.exit_code, output, result.stdout

    def _python(self, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        done = subprocess.run(  # our interpreter, on the docs' own example
            [sys.executable, *args],
            cwd=self.folder,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr, done.stdout

    def _curl(self, args: list[str], command: Command) -> tuple[int, str, str]:
        """curl's -H, -d and -X, against the app the page's `serve` built; exit 22 for an
        HTTP error (as with -f: a request the docs show must work)."""
        if self.service is None:
            pytest.fail(f"{command.where}: `{command.text}` needs the page to `serve` first")
        headers: dict[str, str] = {}
        method, body, url = "GET", None, ""
        while args:
            word = args.pop(0)
            if word in {"-H", "--header"}:
                name, _, value = args.pop(0).partition(":")
                headers[name.strip()] = value.strip()
            elif word in {"-d", "--data"}:
                body, method = args.pop(0).encode(), "POST" if method == "GET" else method
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            elif word in {"-X", "--request"}:
                method = args.pop(0)
            elif word in {"-s", "--silent", "-f", "--fail"}:
                pass
            elif word.startswith("-"):
                pytest.fail(f"{command.where}: the docs test's curl does not take {word}")
            else:
                url = word
        path = re.sub(r"^https?://[^/]+", "", url)
        answer = httpx.request(
            method, self.service + path, headers=headers, content=body, timeout=30
        )
        return (0 if answer.status_code < 400 else 22), answer.text, answer.text


@pytest.mark.parametrize("page", RUN_PAGES)
def test_every_command_of_the_page_runs(
    page: str, clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's commands, in order, in a fresh copy of what the docs assume: each exits 0
    (and prints what a console block shows), unless SKIPPED says why it cannot run here.

    The sample configuration's secrets are set (test values), as someone trying it would set
    them; a page that writes its own configuration exports its own."""
    folder = tmp_path / "here"
    shutil.copytree(clone, folder)
    monkeypatch.chdir(folder)
    for name in OUR_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    own = {
        name
        for s in ALL_STEPS
        if s.page == page and isinstance(s, File)
        for name in _secrets_of(s.text)
    }
    for name in _secrets_of(EXAMPLE_CONFIG.read_text(encoding="utf-8")) - own:
        monkeypatch.setenv(name, f"test-{name.lower()}")
    for name in own:
        monkeypatch.delenv(name, raising=False)
    with contextlib.ExitStack() as stack:
        shell = Shell(folder, monkeypatch, stack)
        for step in ALL_STEPS:
            if step.page != page:
                continue
            if isinstance(step, File):
                (folder / step.name).write_text(step.text, encoding="utf-8")
            elif (step.page, step.text) not in SKIPPED:
                shell.run(step)


def test_the_skipped_lines_are_exactly_the_listed_ones() -> None:
    """Every listed line is still in its page (the list keeps no stale excuses), and each is
    of a kind that needs what this machine lacks: its reason is checked against the command."""
    written = {(command.page, command.text) for command in ALL_COMMANDS}
    assert set(SKIPPED) <= written, set(SKIPPED) - written
    for (_, text), reason in SKIPPED.items():
        words = shlex.split(text)
        kinds = {
            NEEDS_PIP: words[:2] == ["pip", "install"],
            NEEDS_THE_NETWORK: _fetches(words),
            RUNS_THE_SUITE: words == ["pytest"],
            SERVES_THE_SITE: words == ["mkdocs", "serve"],
            BUILDS_THE_SITE: words[:2] == ["mkdocs", "build"],
            MUTATES: "mutmut" in words,
        }
        assert kinds[reason], (text, reason)
    assert len(SKIPPED) == 15  # a new excuse is a decision: make it here, in review


def _fetches(words: list[str]) -> bool:
    """``incident-flow import VENDOR`` without files: it fetches from the vendor's API."""
    if words[:2] != ["incident-flow", "import"]:
        return False
    rest, files = words[3:], []
    while rest:
        word = rest.pop(0)
        if word.startswith("-"):
            rest = rest[1:]  # every option of import takes a value
        else:
            files.append(word)
    return not files


def test_the_docs_show_commands() -> None:
    """The reader finds the pages' commands (a broken reader would pass everything), and no
    command hides in a block it does not read."""
    texts = {(command.page, command.text) for command in ALL_COMMANDS}
    assert ("README.md", "incident-flow demo") in texts
    assert ("docs/server.md", "incident-flow --config incident-flow.toml serve") in texts
    assert (
        "examples/incident-flow.toml",
        "incident-flow config check examples/incident-flow.toml",
    ) in texts
    assert {"README.md", "docs/getting-started.md", "docs/server.md", "docs/index.md"} <= set(
        RUN_PAGES
    )
    for page in PAGES:
        for info, _, start, body in _blocks(page):
            if _is_shell(info, body) or info in {"python", "toml", "json", "yaml", "mermaid"}:
                continue
            for number, line in enumerate(body, start):
                assert not line.lstrip("$ ").startswith(("incident-flow ", "python ", "pip ")), (
                    f"{_relative(page)}:{number}: a command in a ```{info} block: fence it ```sh"
                )


def test_the_reader_reads_shell_as_the_docs_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Continuations, ``&&``, comments, quotes over lines, console output, titled files and
    plain fences are read as a shell (and a person) reads them; other fences are not commands."""
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\n"
        "pip install x && incident-flow demo   # the demo\n"
        "incident-flow silence add --match a=b \\\n"
        '    --by alice --why "a b"\n'
        'curl -d \'{"a":\n'
        "  1}' http://x/y\n"
        "```\n\n"
        "```console\n$ incident-flow oncall primary\nprimary: erin\n```\n\n"
        "```\n# a comment\nincident-flow list\n```\n\n"
        '```toml title="policy.toml"\ncritical = ["P1"]\n```\n\n'
        "```toml\nincident-flow = 1\n```\n\n"
        "```\nnot a command\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = [
        (s.line, s.text, s.output) if isinstance(s, Command) else (s.line, s.name, s.text)
        for s in steps(page)
    ]
    assert found == [
        (2, "pip install x", ()),
        (2, "incident-flow demo", ()),
        (3, "incident-flow silence add --match a=b --by alice --why 'a b'", ()),
        (5, "curl -d '{\"a\": 1}' http://x/y", ()),
        (10, "incident-flow oncall primary", ("primary: erin",)),
        (16, "incident-flow list", ()),
        (20, "policy.toml", 'critical = ["P1"]\n'),
    ]


def test_the_readme_sets_up_with_two_commands() -> None:
    """A newcomer runs two commands: one installs and runs the main job, one the tests."""
    readme = ROOT / "README.md"
    setup = readme.read_text(encoding="utf-8").split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", setup, re.S)
    assert [info for info, _ in blocks] == ["sh", "sh"]
    assert [body.strip() for _, body in blocks] == [
        "pip install '.[cli]' && incident-flow demo",
        "pip install -e '.[all,test]' && pytest",
    ]


# --------------------------------------------------------------------------- the site itself


def test_every_page_of_the_site_is_linked_from_the_home_page() -> None:
    """The home page is the map: every page mkdocs.yml's nav lists is one click away."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)\s*$", config.split("\nnav:\n", 1)[1], re.M)
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", home))
    assert len(nav) > 20  # the nav was read
    assert set(nav) - {"index.md"} <= linked, set(nav) - linked - {"index.md"}
    assert linked <= set(nav), linked - set(nav)  # and nothing links past the site


def test_generate_check_names_a_stale_page_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python docs/generate.py --check` exits 1 naming the stale page and leaves it; without
    --check it rewrites it, and --check then passes."""
    shutil.copy(ROOT / "docs" / "generate.py", tmp_path / "generate.py")
    page = tmp_path / "process.md"
    page.write_text("# The process\n\n```mermaid\nstale\n```\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("generate", tmp_path / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)

    assert generate.main(["--check"]) == 1
    assert f"{page}: stale" in capsys.readouterr().err
    assert "stale" in page.read_text(encoding="utf-8")
    assert generate.main([]) == 0
    assert "stateDiagram-v2" in page.read_text(encoding="utf-8")
    assert generate.main(["--check"]) == 0
