"""SSRF safety of webhook and callback targets: scheme, address classes in every notation,
and the connection pinned to the checked address (the Host header keeps the URL's name)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from notify_fixtures import Receiver

from feedsvc.notify.sender import MAX_RESPONSE, TargetError, resolve, send

REFUSED = [
    "http://127.0.0.1/", "http://127.1.2.3:8080/x", "http://2130706433/", "http://0x7f.1/", "http://017700000001/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/", "http://10.0.0.1/", "http://172.16.5.4/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://100.64.0.1/",
    "http://100.127.255.254/", "http://[fd12:3456::1]/", "http://[fc00::1]/", "http://224.0.0.1/", "http://[ff02::1]/",
    "http://0.0.0.0/", "http://[::]/", "http://localhost/", "http://[64:ff9b::a00:1]/", "http://240.0.0.1/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_special_addresses_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        resolve(url, allow_private=False)


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/", "file:///etc/passwd", "http://user:pw@93.184.216.34/", "//x/", "http://[::1"])
def test_other_schemes_and_shapes_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        resolve(url, allow_private=True)


@pytest.mark.parametrize("url", ["http://93.184.216.34/hook", "https://[2606:2800:220:1:248:1893:25c8:1946]/x", "http://1.1.1.1:8080/"])
def test_public_addresses_pass(url: str) -> None:
    target = resolve(url, allow_private=False)  # numeric hosts: no DNS query, no connection
    assert target.address in url


def test_allow_private_lifts_the_address_check() -> None:
    assert resolve("http://2130706433:81/x", allow_private=True).address == "127.0.0.1"


def test_connection_goes_to_the_checked_address_with_the_original_host(receiver: Receiver) -> None:
    port = receiver.port  # the receiver listens on 127.0.0.1 only
    assert resolve(f"http://localhost:{port}/", allow_private=True).address == "127.0.0.1"
    result = send("POST", f"http://localhost:{port}/pinned?q=1", b"{}", {"Content-Type": "application/json"}, True)
    assert result.status == 200
    [req] = receiver.at("/pinned")
    assert req.headers["host"] == f"localhost:{port}" and req.query == {"q": "1"}


def test_the_name_is_resolved_once_and_the_checked_address_is_used(receiver: Receiver,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS (which leaves the machine) stubbed for one name: the check resolves it, the
    connection goes to that address without asking again (no rebinding window)."""
    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = send("GET", f"http://hooks.example.test:{receiver.port}/named", None, {}, allow_private=True)
    assert result.status == 200 and lookups == ["hooks.example.test"]
    assert receiver.at("/named")[0].headers["host"] == f"hooks.example.test:{receiver.port}"


def test_send_never_raises_and_keeps_a_bounded_answer(receiver: Receiver) -> None:
    receiver.script("/big", (200, {}, b"x" * 100_000))
    assert send("GET", receiver.url("/big"), None, {}, True).body == b"x" * MAX_RESPONSE
    tls = send("GET", f"https://localhost:{receiver.port}/tls", None, {}, True)  # TLS to a plain-HTTP port
    assert tls.status is None and tls.error and "SSL" in tls.error
    closed = send("GET", "http://127.0.0.1:9/", None, {}, True)
    assert closed.status is None and closed.error


def test_send_refuses_at_send_time_too() -> None:
    result = send("POST", "http://127.0.0.1:9/", b"", {}, allow_private=False)
    assert result.status is None and result.error and result.error.startswith("refused")


def test_webhook_registration_refuses_private_urls(push_app: Any, receiver: Receiver) -> None:
    from notify_fixtures import auth

    app = push_app(allow_private_targets=False)
    response = app.test_client().post("/api/webhooks", json={"url": receiver.url("/x")}, headers=auth())
    assert response.status_code == 400 and "loopback" in response.get_data(as_text=True)
