"""The rate limit's pure parts: which address is counted, and what is stored about whom."""

from __future__ import annotations

from emergency.core.ratelimit import Requester, client_address

PROXIES = frozenset({"10.0.0.5", "10.0.0.6"})


def test_a_direct_connection_is_counted_by_its_own_address_whatever_it_claims():
    assert client_address("203.0.113.7", "198.51.100.1", PROXIES) == "203.0.113.7"


def test_behind_our_proxies_the_nearest_outside_hop_is_the_client():
    # The client wrote a fake first hop; our two proxies appended what they saw.
    forwarded = "1.2.3.4, 198.51.100.9, 10.0.0.6"
    assert client_address("10.0.0.5", forwarded, PROXIES) == "198.51.100.9"


def test_a_proxy_without_a_header_is_counted_as_itself():
    assert client_address("10.0.0.5", None, PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", " , ", PROXIES) == "10.0.0.5"


def test_no_address_means_this_machine():
    assert client_address(None, "198.51.100.1", PROXIES) == "localhost"
    assert client_address(None, "198.51.100.1", frozenset({"localhost"})) == "198.51.100.1"


def test_keys_are_per_action_and_never_hold_the_address_or_session():
    requester = Requester("secret-session-key", "203.0.113.7")
    keys = requester.keys("lookup")
    assert [kind for kind, _ in keys] == ["session", "address"]
    assert all("203.0.113" not in key and "secret" not in key for _, key in keys)
    assert all(len(key) <= 80 for _, key in keys)  # the column's width
    assert set(keys).isdisjoint(requester.keys("report"))
    assert len(Requester("s", None).keys("lookup")) == 1
