"""Plumbing every trialsite command shares, and the store's own commands.

The store URL (``--db`` or ``TRIALSITE_DATABASE_URL``) is opened once per command;
errors a user can cause print one ``Error: …`` line; JSON goes to stdout, progress
bars to stderr (and only on a terminal).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from db.display import hide_password


class CommandGroup(TyperGroup):
    """The root command: a usage error (an unknown option, a value out of range) is one
    ``Error:`` line naming the option, exit 1 — exit 2 means "done, some items refused"."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        _name_placeholders(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:
            print_error("interrupted")
            sys.exit(130)
        except typer.TyperException as exc:  # click's usage and parameter errors (vendored by typer)
            ctx = getattr(exc, "ctx", None)
            bare = type(exc).__name__ == "NoArgsIsHelpError" or (
                ctx is not None and ctx.parent is None and getattr(exc, "message", "") == "Missing command."
            )
            if bare and ctx is not None:
                print(ctx.get_help())  # a bare `trialsite` or command group: what it can do
                sys.exit(0)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            format_message = getattr(exc, "format_message", None)
            print_error((format_message() if format_message else str(exc)) + where)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# Placeholders in --help as words a user would write, not Python types ("<list[str]>").
_PLACEHOLDERS = {
    "db": "URL", "near": "PLACE", "location": "PLACE", "radius": "KM", "limit": "N", "age": "YEARS",
    "since": "DATE", "today": "DATE", "updated_since": "DATE", "page_size": "N", "workers": "N",
    "rate_limit": "PER_MINUTE", "timeout": "SECONDS", "base_url": "URL", "webhook": "URL",
    "notify_cmd": "COMMAND", "patient_file": "FILE", "patient": "FILE", "referral": "FILE",
    "measurement": "NAME=VALUE[ UNIT]", "letter": "FILE", "port": "PORT", "host": "HOST",
}  # fmt: skip


def _name_placeholders(command: Any) -> None:
    """Give every option and argument without a placeholder one in words (its name)."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) or param.metavar is not None or param.name is None:
            continue
        param.metavar = _PLACEHOLDERS.get(param.name, param.name.upper())
        if param.param_type_name == "argument":
            # Typer writes a required argument "{NAME}" in the usage line and its Python type
            # beside it ("NAME <str>"): plain NAME in both, as manual pages write it.
            param._usage_display_name = lambda p=param: p.metavar if p.required else f"[{p.metavar}]"
            param.display_type_rich = lambda ctx: ""
    for sub in getattr(command, "commands", {}).values():
        _name_placeholders(sub)


db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

# Control characters (terminal escapes such as "\x1b]0;title", and the bidirectional controls
# that reorder what is shown: db.display) in record or user text are never written to a
# terminal; newlines and tabs are kept.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    return _CONTROL_RE.sub("", text)


class SafeConsole(Console):
    """A console that drops control characters from every string it renders (table cells
    too) and never turns ``:name:`` into an emoji."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(strip_controls(text), **options)


out = SafeConsole(highlight=False, soft_wrap=True, emoji=False)
err = SafeConsole(stderr=True, highlight=False, emoji=False)


@dataclass
class State:
    db: str | None = None
    engine: Engine | None = None
    debug: bool = False


state = State()


def fail(message: str, code: int = 1) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def print_error(message: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width or the message (a driver's
    error may hold newlines and tabs)."""
    typer.echo(f"Error: {' '.join(strip_controls(message).split())}", err=True)


def report_unexpected(exc: BaseException) -> int:
    """One ``Error:`` line for an exception no command handled; returns the exit code (1).

    A store fault (disk full, read-only or corrupt file) is named as such; anything
    else says where its traceback was written (``--debug`` prints it instead).
    """
    import tempfile
    import traceback

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        detail = " ".join(hide_password(str(exc.orig)).split())[:300]
        if "readonly database" in detail:  # SQLite's words for a file it may not write
            print_error(f"the store at {shown_store_url()} is read-only: this command writes to it")
            return 1
        print_error(f"the store failed: {detail} (store {shown_store_url()})")
        return 1
    summary = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="trialsite-error-", suffix=".log", delete=False, encoding="utf-8"
        ) as log:
            traceback.print_exception(exc, file=log)
        where = f"details in {log.name}"
    except OSError:
        where = "rerun with --debug for details"
    print_error(f"unexpected failure ({summary}); {where}")
    return 1


def shown_store_url() -> str:
    """The store's URL as it may be printed: its password as ``***``."""
    from db.engine import Settings

    return hide_password(Settings.from_env(state.db).database_url)


def store_location() -> str:
    """The store as a user named it: a SQLite file's path, else the URL without its password."""
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        return str(engine.url.database or ":memory:")
    return engine.url.render_as_string(hide_password=True)


def get_engine(*, bulk_writes: bool = False) -> Engine:
    """The command's store; ``bulk_writes``: for a load (SQLite then reads it without a memory map).

    Only loads create a store: a command that reads one it cannot find names the path.
    """
    from db.engine import ReadOnlyStore, is_read_only, open_store

    if state.engine is None:
        _check_store_url(bulk_writes)
        try:
            state.engine = open_store(state.db, memory_map=not bulk_writes)
        except OperationalError as exc:
            fail(f"cannot open the store: {hide_password(str(exc.orig))}")
        except ReadOnlyStore as exc:
            fail(str(exc))
        if bulk_writes and is_read_only(state.engine):
            fail(
                f"the store at {store_location()} is read-only (its file or folder cannot be written): this command writes to it"
            )
    return state.engine


def _check_store_url(creating: bool) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from db.engine import Settings

    text = Settings.from_env(state.db).database_url
    try:
        url = make_url(text)
    except ArgumentError:
        fail(
            f"--db: not a store URL: {hide_password(text)!r} (use sqlite:///PATH or postgresql://USER@HOST/DB)"
        )
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        fail(f"--db: unsupported store {backend!r} (use sqlite:///PATH or postgresql://USER@HOST/DB)")
    database = url.database or ""
    if (
        backend == "sqlite"
        and database not in ("", ":memory:")
        and not creating
        and not Path(database).is_file()
    ):
        if Path(database).exists():
            fail(f"--db: {url.database} is not a store file (a folder, a device or a pipe)")
        fail(f"--db: no store at {url.database} (create one with trialsite ingest or trialsite db upgrade)")


def shown_time(value: Any) -> str:
    """A stored time as people read it: "2026-12-05 11:44 UTC" ("-" when there is none)."""
    from db.state import as_utc

    if value is None or value == "":
        return "-"
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def print_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )


def dispose_engine() -> None:
    """Close the store at the end of a command (the root callback registers it)."""
    if state.engine is not None:
        state.engine.dispose()
        state.engine = None


def progress_bar(total: int | None, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn() if total else TextColumn("{task.completed} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's schema migrations (also done automatically on first use).

    \b
    Example:
      trialsite --db postgresql://postgres@127.0.0.1/test db upgrade
    """
    from db.engine import open_store
    from db.migrate import current_revision, upgrade

    _check_store_url(creating=True)
    engine = open_store(state.db, migrate=False)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    out.print(
        f"schema at revision {after}" + (" (already current)" if before == after else f" (was {before})")
    )
