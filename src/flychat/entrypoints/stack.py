"""``flychat stack``: the app behind a Pushpin that this command configures and starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from flychat.config import Settings
from flychat.entrypoints.pushpin_runner import Pushpin, PushpinError, free_port

DEFAULT_PUBLIC_PORT = 7999


def _say(text: str) -> None:
    print(text, flush=True)


def run_stack(
    settings: Settings,
    serve: Callable[[Settings], None],
    public_port: int = DEFAULT_PUBLIC_PORT,
    announce: Callable[[str], None] = _say,
) -> int:
    """Start Pushpin on ``public_port``, serve the app behind it until stopped, stop Pushpin."""
    app_port = free_port()
    pushpin = Pushpin(app_port=app_port, http_port=public_port)
    try:
        pushpin.start()
    except PushpinError as exc:
        announce(f"flychat: cannot start Pushpin: {exc}")
        pushpin.stop()
        return 1
    try:
        app_settings = dataclasses.replace(
            settings, host="127.0.0.1", port=app_port, grip_urls=(pushpin.grip_url,)
        )
        announce(
            f"flychat: open {pushpin.url}/default  "
            f"(Pushpin on {pushpin.url}, app on 127.0.0.1:{app_port}, "
            f"Pushpin output in {pushpin.log_path}; Ctrl-C stops both)"
        )
        serve(app_settings)
    finally:
        pushpin.stop()
    return 0
