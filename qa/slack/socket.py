"""``qa-slack``: the Slack bot over Socket Mode, for workspaces that cannot reach our URL."""

from __future__ import annotations

import logging

import typer

from core.cli import IndexOption, settings_for, setup_logging
from qa.demo import EngineStartup
from qa.slack.bot import make_bolt_app

log = logging.getLogger(__name__)


def run(index: IndexOption = None) -> None:
    """Run the Slack bot over Socket Mode (needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN).

    With an empty index it first indexes the bundled demo articles, like qa-serve.
    """
    settings = settings_for(index)
    missing = [
        name
        for name, value in (
            ("SLACK_APP_TOKEN", settings.slack_app_token),
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
        )
        if not value
    ]
    if missing:
        typer.echo(
            f"error: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. "
            "Socket Mode needs an app-level token "
            "(xapp-..., scope connections:write) and the bot token (xoxb-...): "
            "see slack/manifest.yml and the README's Slack section.",
            err=True,
        )
        raise typer.Exit(2)
    app_token = settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
    if not app_token.startswith("xapp-"):
        typer.echo("error: SLACK_APP_TOKEN must be an app-level token (xapp-...)", err=True)
        raise typer.Exit(2)

    from slack_bolt.adapter.socket_mode import SocketModeHandler

    startup = EngineStartup(settings).start()
    bolt = make_bolt_app(settings, lambda: startup.engine, lambda: startup.error, socket_mode=True)
    typer.echo(f"Connecting to Slack over Socket Mode (index: {settings.index_dir}) ...")
    SocketModeHandler(bolt, app_token, trace_enabled=False).start()


def main() -> None:
    """The ``qa-slack`` console script."""
    setup_logging(logging.INFO)
    typer.run(run)
