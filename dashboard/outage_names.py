"""How staff pages name an outage: its device's code, and for a service outage whose supply it is.

A service outage (one customer's lone call) stands at the customer's transformer like the
transformer's own outage would; "TX000123 · service: account ending 4821" tells a dispatcher it is
one customer. Staff pages only: the public never see an account, whole or in part.
"""

from __future__ import annotations

from dashboard.i18n import t
from emergency.network.service_outages import account_tail


def outage_name(device_code: str, service_account: str | None) -> str:
    tail = account_tail(service_account)
    if tail is None:
        return device_code
    return t("service.name", device=device_code, tail=tail)
