"""A bare Bolt app that only acks /handoff, served like `baton serve` (waitress + Bolt's WSGI
adapter). The floor Baton's command path is compared against."""

import logging
import sys

import waitress
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def main() -> None:
    port, secret, api_url, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    logging.basicConfig(level=logging.WARNING)
    app = App(client=WebClient(token="xoxb-bench", base_url=api_url), signing_secret=secret,
              process_before_response=(mode == "process_before_response"))

    @app.command("/handoff")
    def handoff(ack):  # type: ignore[no-untyped-def]
        ack()

    waitress.serve(SlackRequestHandler(app), host="127.0.0.1", port=port, threads=16,
                   _quiet=True)


if __name__ == "__main__":
    main()
