"""Webhooks end to end: a file change reaches a real receiver on loopback with a Standard
Webhooks signature (verified with the reference ``standardwebhooks`` package), retries keep
the webhook-id, 410 disables, Retry-After is honoured, redirects fail; the admin API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from notify_fixtures import Receiver, add_endpoint, auth, pump
from standardwebhooks.webhooks import Webhook

from feedsvc.notify import schema


def deliveries(app: Flask, endpoint_id: str) -> list[dict[str, Any]]:
    response = app.test_client().get(f"/api/webhooks/{endpoint_id}/deliveries", headers=auth())
    assert response.status_code == 200
    return response.get_json()["deliveries"]


def test_file_change_reaches_webhook_with_valid_signature(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                         receiver: Receiver) -> None:
    write_post("old.md", title="Old post")
    app = push_app()
    endpoint = add_endpoint(app, receiver.url("/hook"))
    assert endpoint["secret"].startswith("whsec_")
    write_post("new.md", title="New post", tags=["python"], categories=["dev"], body="Hello **world**.\n")
    pump(app, lambda: len(receiver.at("/hook")) >= 1)
    [req] = receiver.at("/hook")
    payload = Webhook(endpoint["secret"]).verify(req.body, req.headers)
    assert payload["type"] == "post.published"
    data = payload["data"]
    assert data["title"] == "New post" and data["url"].startswith("https://blog.example.org/")
    assert "<strong>world</strong>" in data["content_html"]
    assert data["categories"] == ["dev"] and set(data["tags"]) == {"dev", "python"}
    assert req.headers["content-type"] == "application/json"
    assert req.headers["webhook-id"].startswith("msg_")
    [delivery] = deliveries(app, endpoint["id"])
    assert delivery["status"] == "done" and delivery["message_id"] == req.headers["webhook-id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
    # a wrong secret does not verify: the signature really depends on it
    other = add_endpoint(app, receiver.url("/other"))
    try:
        Webhook(other["secret"]).verify(req.body, req.headers)
    except Exception as exc:  # standardwebhooks raises WebhookVerificationError
        assert "signature" in str(exc).lower()
    else:
        raise AssertionError("a wrong secret verified")


def test_update_and_delete_events(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    path = write_post("a.md", title="First title")
    app = push_app()
    add_endpoint(app, receiver.url("/hook"))
    write_post("a.md", title="Second title, longer")
    pump(app, lambda: len(receiver.at("/hook")) >= 1)
    path.unlink()
    pump(app, lambda: len(receiver.at("/hook")) >= 2)
    kinds = [json.loads(r.body)["type"] for r in receiver.at("/hook")]
    assert kinds == ["post.updated", "post.deleted"]
    deleted = json.loads(receiver.at("/hook")[1].body)["data"]
    assert deleted["title"] == "Second title, longer" and deleted["id"].startswith("https://blog.example.org/")


def test_retries_keep_the_webhook_id(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    app = push_app(retry_schedule="0,0,0")
    endpoint = add_endpoint(app, receiver.url("/flaky"))
    receiver.script("/flaky", (500, {}, b"boom"), (502, {}, b"bad gateway"), (200, {}, b"ok"))
    write_post("a.md", title="Retry me")
    pump(app, lambda: len(receiver.at("/flaky")) >= 3)
    ids = {r.headers["webhook-id"] for r in receiver.at("/flaky")}
    assert len(ids) == 1
    for req in receiver.at("/flaky"):
        Webhook(endpoint["secret"]).verify(req.body, req.headers)
    [delivery] = deliveries(app, endpoint["id"])
    assert delivery["status"] == "done"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 200]


def test_failed_after_the_schedule_and_redeliver(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                 receiver: Receiver) -> None:
    app = push_app(retry_schedule="0")
    endpoint = add_endpoint(app, receiver.url("/down"))
    receiver.script("/down", (500, {}, b"no"))
    write_post("a.md", title="Doomed")
    pump(app, lambda: bool(deliveries(app, endpoint["id"])) and deliveries(app, endpoint["id"])[0]["status"] == "failed")
    [delivery] = deliveries(app, endpoint["id"])
    assert len(delivery["attempts"]) == 2 and delivery["last_code"] == 500
    receiver.script("/down", (200, {}, b"fine now"))
    client = app.test_client()
    response = client.post(f"/api/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=auth())
    assert response.status_code == 202
    pump(app, lambda: deliveries(app, endpoint["id"])[0]["status"] == "done")
    assert len({r.headers["webhook-id"] for r in receiver.at("/down")}) == 1
    assert client.post(f"/api/webhooks/{endpoint['id']}/deliveries/999999/redeliver", headers=auth()).status_code == 404


def test_410_disables_the_endpoint(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    app = push_app(retry_schedule="0,0,0")
    endpoint = add_endpoint(app, receiver.url("/gone"))
    receiver.script("/gone", (410, {}, b"gone"))
    write_post("a.md", title="One")
    pump(app, lambda: len(receiver.at("/gone")) >= 1)
    shown = app.test_client().get(f"/api/webhooks/{endpoint['id']}", headers=auth()).get_json()
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]
    write_post("b.md", title="Two")
    pump(app, lambda: True)
    app.extensions["feedsvc.notify"].run_once()
    assert len(receiver.at("/gone")) == 1  # no retry, nothing new
    assert deliveries(app, endpoint["id"])[-1]["status"] == "failed"


def test_retry_after_is_honoured(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    app = push_app(retry_schedule="3600")  # without Retry-After the retry would be an hour away
    endpoint = add_endpoint(app, receiver.url("/busy"))
    receiver.script("/busy", (429, {"Retry-After": "1"}, b"slow down"), (200, {}, b"ok"))
    write_post("a.md", title="Throttled")
    pump(app, lambda: len(receiver.at("/busy")) >= 2, timeout=30)
    first, second = receiver.at("/busy")[:2]
    assert second.at - first.at >= 1.0 - 0.05  # not before the receiver allowed it
    assert deliveries(app, endpoint["id"])[0]["status"] == "done"


def test_503_retry_after_schedules_the_next_attempt(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                   receiver: Receiver) -> None:
    app = push_app(retry_schedule="0")
    endpoint = add_endpoint(app, receiver.url("/maint"))
    receiver.script("/maint", (503, {"Retry-After": "7200"}, b"maintenance"))
    write_post("a.md", title="Later")
    pump(app, lambda: len(receiver.at("/maint")) >= 1)
    engine = app.extensions["feedsvc.notify"].engine
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.deliveries).where(schema.deliveries.c.endpoint_id == endpoint["id"])).one()
    assert row.status == "pending" and row.next_at - row.created_at > 7000


def test_redirect_is_a_failure(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    app = push_app(retry_schedule="0")
    endpoint = add_endpoint(app, receiver.url("/moved"))
    receiver.script("/moved", (301, {"Location": receiver.url("/target")}, b""))
    write_post("a.md", title="Moved")
    pump(app, lambda: deliveries(app, endpoint["id"])[:1] != [] and deliveries(app, endpoint["id"])[0]["status"] == "failed")
    assert receiver.at("/target") == []


def test_filters_by_event_type_and_tag(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    write_post("a.md", title="A", tags=["go"])
    app = push_app()
    add_endpoint(app, receiver.url("/python"), tags=["Python"])
    add_endpoint(app, receiver.url("/deletes"), events=["post.deleted"])
    add_endpoint(app, receiver.url("/all"))
    write_post("b.md", title="B", tags=["python"])
    write_post("c.md", title="C", tags=["rust"])
    pump(app, lambda: len(receiver.at("/all")) >= 2)
    assert [json.loads(r.body)["data"]["title"] for r in receiver.at("/python")] == ["B"]
    assert receiver.at("/deletes") == []


def test_admin_api_crud_and_auth(push_app: Callable[..., Flask], receiver: Receiver) -> None:
    app = push_app()
    client = app.test_client()
    assert client.get("/api/webhooks").status_code == 401
    wrong = client.get("/api/webhooks", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    created = add_endpoint(app, receiver.url("/x"), secret="whsec_" + "A" * 32, events=["post.published"],
                           description="chat bot")
    assert created["secret"] == "whsec_" + "A" * 32 and created["events"] == ["post.published"]
    listed = client.get("/api/webhooks", headers=auth()).get_json()["webhooks"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    patched = client.patch(f"/api/webhooks/{created['id']}", json={"tags": ["a"], "enabled": False}, headers=auth())
    assert patched.status_code == 200 and patched.get_json()["tags"] == ["a"] and not patched.get_json()["enabled"]
    for body, reason in (({"url": "ftp://x/"}, "http"), ({"url": receiver.url("/"), "secret": "plain"}, "whsec_"),
                         ({"url": receiver.url("/"), "events": ["post.eaten"]}, "unknown event"),
                         ({"url": receiver.url("/"), "colour": "red"}, "unknown field")):
        bad = client.post("/api/webhooks", json=body, headers=auth())
        assert bad.status_code == 400 and reason in bad.get_data(as_text=True)
        assert bad.content_type.startswith("text/plain")
    assert client.post("/api/webhooks", data="{", headers=auth()).status_code == 400
    assert client.delete(f"/api/webhooks/{created['id']}", headers=auth()).status_code == 204
    assert client.get(f"/api/webhooks/{created['id']}", headers=auth()).status_code == 404


def test_admin_api_is_absent_without_a_token(push_app: Callable[..., Flask]) -> None:
    app = push_app(admin_token="")
    assert app.test_client().get("/api/webhooks", headers=auth()).status_code == 404


def test_endpoints_from_the_toml_config(push_app: Callable[..., Flask], tmp_path: Path, write_post: Callable[..., Path],
                                        receiver: Receiver) -> None:
    config = tmp_path / "feedsvc.toml"
    secret = "whsec_" + "B" * 32
    config.write_text(f'[[webhooks]]\nurl = "{receiver.url("/cfg")}"\nsecret = "{secret}"\nevents = ["post.published"]\n')
    app = push_app(config=str(config))
    [listed] = app.test_client().get("/api/webhooks", headers=auth()).get_json()["webhooks"]
    assert listed["source"] == "config" and listed["events"] == ["post.published"]
    write_post("a.md", title="Configured")
    pump(app, lambda: len(receiver.at("/cfg")) >= 1)
    Webhook(secret).verify(receiver.at("/cfg")[0].body, receiver.at("/cfg")[0].headers)
    config.write_text("")  # no longer declared: removed at the next start
    app2 = push_app(config=str(config))
    assert app2.test_client().get("/api/webhooks", headers=auth()).get_json()["webhooks"] == []
