"""``qa-slack``: the Slack bot over Socket Mode, for workspaces that cannot reach our URL."""

from __future__ import annotations

import logging
import threading

import typer

from qa.cli import IndexOption
from qa.engine import Engine
from qa.settings import Settings
from qa.slack.bot import make_bolt_app

log = logging.getLogger(__name__)


class _EngineSlot:
    """The engine, built in the background so the bot can say "still starting" meanwhile."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.error: str | None = None

    def build(self) -> None:
        try:
            from qa.demo import ensure_demo_index

            engine = Engine(self.settings)
            ensure_demo_index(engine)
            self.engine = engine.warm_up()
            log.info("ready: %d articles, %d passages", *engine.counts())
        except Exception as e:
            log.exception("the engine failed to start")
            self.error = f"{type(e).__name__}: {e}"


def run(index: IndexOption = None) -> None:
    """Run the Slack bot over Socket Mode (needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN).

    With an empty index it first indexes the bundled demo articles, like qa-serve.
    """
    settings = Settings(index_dir=index) if index else Settings()
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

    slot = _EngineSlot(settings)
    threading.Thread(target=slot.build, name="engine", daemon=True).start()
    bolt = make_bolt_app(settings, lambda: slot.engine, lambda: slot.error, socket_mode=True)
    typer.echo(f"Connecting to Slack over Socket Mode (index: {settings.index_dir}) ...")
    SocketModeHandler(bolt, app_token, trace_enabled=False).start()


def main() -> None:
    """The ``qa-slack`` console script."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    typer.run(run)
