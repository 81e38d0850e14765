"""The ``citytally`` command. Each area registers its own subcommands; heavy imports happen inside them."""

from __future__ import annotations

import logging
import sys

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


def _register_all() -> None:
    from citytally.demo import register as register_demo
    from citytally.edge.cli import register as register_edge
    from citytally.hub.admin_cli import register as register_hub_admin
    from citytally.hub.cli import register as register_hub
    from citytally.salvage import register as register_salvage
    from citytally.signals.cli import register as register_signals

    register_edge(app)
    register_demo(app)
    register_hub(app)
    register_hub_admin(app)
    register_signals(app)
    register_salvage(app)


_register_all()


def main() -> None:
    """Entry point: a :class:`CitytallyError` becomes one line on stderr and exit status 2."""
    try:
        app()
    except CitytallyError as exc:
        typer.echo(f"citytally: error: {exc}", err=True)
        sys.exit(2)
