"""The ``citytally`` command. Each area registers its own subcommands; heavy imports happen inside them."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from citytally import __version__
from citytally.errors import CitytallyError

__all__ = ["app", "main"]

app = typer.Typer(
    name="citytally",
    help="Anonymous road-user analytics, a city data hub and adaptive traffic signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help paragraphs reflowed to the terminal (docstrings are wrapped at 110).
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"citytally {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug detail."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Migration chatter is detail for developers, not news for an operator.
        logging.getLogger("alembic").setLevel(logging.WARNING)


def salvage_command(
    damaged: Annotated[Path, typer.Argument(help="The damaged SQLite file (it is only read).")],
    out: Annotated[Path, typer.Argument(help="The new file for what reads (must not exist).")],
) -> None:
    """Copy what still reads of a damaged SQLite file (the hub's store, or an outbox an edge set aside) into
    a new one, and say what was lost.

    Stop the hub first (or use a copy), then start it on the new file; see docs/hub.md, 'A damaged store'.
    Works where SQLite's own `.recover` is missing (Debian's `sqlite3`).
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from citytally.salvage import salvage

    columns = (SpinnerColumn(), TextColumn("{task.description}"))
    console = Console(stderr=True)
    # no spinner where nothing can redraw it (a log, a pipe): there it left a blank line before an error
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("reading", total=None)
        found = salvage(damaged, out, lambda t, n: bar.update(task, description=f"{t}: {n:,} rows saved"))
    for table in found:
        if not (table.saved or table.lost):
            continue
        line = f"{table.name}: {table.saved:,} rows saved"
        if table.lost:
            most = table.lost_rows()
            spans = ", ".join(f"{a}-{'end' if b is None else b}" for a, b in table.lost)
            line += f"; lost rowids {spans}" + ("" if most is None else f" (at most {most:,} rows)")
        typer.echo(line)
    if any(t.name == "sqlite_master" for t in found):
        typer.echo(
            "part of the schema was lost: the tables and indexes its lost rows named are not in the copy"
        )
    lost = [t.name for t in found if t.lost]
    typer.echo(f"saved to {out}" + (f"; rows lost in {', '.join(lost)}" if lost else "; nothing lost"))


def _register_all() -> None:
    from citytally.demo import register as register_demo
    from citytally.edge.cli import register as register_edge
    from citytally.hub.admin_cli import register as register_hub_admin
    from citytally.hub.cli import register as register_hub
    from citytally.signals.cli import register as register_signals

    register_edge(app)
    register_demo(app)
    register_hub(app)
    register_hub_admin(app)
    register_signals(app)
    app.command("salvage")(salvage_command)


_register_all()


def main() -> None:
    """Entry point: a :class:`CitytallyError` becomes one line on stderr and exit status 2."""
    try:
        app()
    except CitytallyError as exc:
        typer.echo(f"citytally: error: {exc}", err=True)
        sys.exit(2)
