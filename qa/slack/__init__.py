"""The Slack bot (slack_bolt): answers mentions, DMs, thread follow-ups and ``/ask``.

- :mod:`qa.slack.bot` — the bolt App factory and its listeners.
- :mod:`qa.slack.blocks` — Block Kit formatting of answers.
- :mod:`qa.slack.http` — ``POST /slack/events`` on the FastAPI app.
- :mod:`qa.slack.socket` — ``qa-slack``, the same bot over Socket Mode.
"""
