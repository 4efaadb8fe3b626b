"""Keep Streamlit from reaching for the internet: a control room runs on an isolated network.

Two settings in dashboard/.streamlit/config.toml (read however the app is started, since it sits
beside the main script) do most of it: `browser.gatherUsageStats = false` sends no usage
statistics, and `browser.serverAddress` set by hand makes the start-up banner print that address
instead of asking checkip.amazonaws.com for the machine's external IP (the "Did not auto detect
external IP" line when offline).

One path no option reaches: when a browser opens the app's WebSocket from a page of another origin,
Streamlit 1.67 (web/server/server_util.py, is_url_from_allowed_origins) tries the machine's
internal IP (a UDP connect towards 8.8.8.8) and then its external IP (an HTTP request to
checkip.amazonaws.com, twice, blocking for up to a second each, and again on every such request
while it fails). Any web page a dispatcher visits can trigger that. `keep_streamlit_offline`
replaces both look-ups with "unknown", which the check already handles: such an origin is then
allowed only if it is this machine's name, `browser.serverAddress` or in
`server.corsAllowedOrigins`, as an operator configures for a real deployment.
"""

from __future__ import annotations

import logging

from streamlit import net_util

log = logging.getLogger("outage_desk.server")
LOOKUPS = ("get_external_ip", "get_internal_ip")


def unknown_address() -> str | None:
    """What the look-ups answer instead: no address, as they do when they fail."""
    return None


def keep_streamlit_offline() -> None:
    """Replace Streamlit's IP look-ups that would leave the machine; idempotent."""
    for name in LOOKUPS:
        if not hasattr(net_util, name):
            # A Streamlit upgrade renamed it; tests/e2e/test_quiet_start.py will say what now leaks.
            log.warning("streamlit.net_util.%s is gone: cannot keep it from going online", name)
            continue
        setattr(net_util, name, unknown_address)
