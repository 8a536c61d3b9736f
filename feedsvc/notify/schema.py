"""The notification store's tables (SQLAlchemy Core). Alembic migrations create them.

Times are UNIX seconds (float) so that SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Post id -> content hash: the cluster's memory of what was announced (issue 4, Store).
# ``version`` only moves forward; ``observed_at`` is the start of the scan whose observation set
# the row (an older observation is stale); ``updated_at`` is when this version was first
# recorded (whole seconds, each version later than the one before): the version's date.
content_state = sa.Table(
    "feedsvc_content_state",
    metadata,
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),  # "" once the post is gone (a tombstone)
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("labels", sa.Text, nullable=False, server_default="{}"),  # JSON: url, title, tags, categories
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("observed_at", sa.Float, nullable=False, server_default="0"),
)
sa.Index("ix_feedsvc_content_state_updated", content_state.c.updated_at)

# Topic (feed URL) -> ETag of its document: WebSub distribution follows this.
topic_state = sa.Table(
    "feedsvc_topic_state",
    metadata,
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # as in content_state
    sa.Column("observed_at", sa.Float, nullable=False, server_default="0"),
)
sa.Index("ix_feedsvc_topic_state_updated", topic_state.c.updated_at)

meta = sa.Table(
    "feedsvc_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# One row per change per cluster: the unique key makes concurrent recorders agree.
events = sa.Table(
    "feedsvc_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("msg_id", sa.String(64), nullable=False),  # the webhook-id of every delivery
    sa.Column("type", sa.String(32), nullable=False),  # post.published ... or topic.changed
    sa.Column("subject", sa.Text, nullable=False),  # the post id or the topic URL
    sa.Column("content_type", sa.String(128), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # empty for a topic without subscribers (hub pings only)
    sa.Column("filter", sa.Text, nullable=False, server_default="{}"),  # JSON: tags, categories
    sa.Column("created_at", sa.Float, nullable=False),
)
sa.Index("ix_feedsvc_events_created", events.c.created_at)

endpoints = sa.Table(
    "feedsvc_endpoints",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("events", sa.Text, nullable=False, server_default="[]"),  # JSON lists; [] = all
    sa.Column("tags", sa.Text, nullable=False, server_default="[]"),
    sa.Column("categories", sa.Text, nullable=False, server_default="[]"),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.String(16), nullable=False, server_default="api"),  # api | config
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("failing_since", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

subscriptions = sa.Table(
    "feedsvc_websub_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("callback", sa.Text, nullable=False),
    sa.Column("secret", sa.String(200), nullable=True),
    sa.Column("lease_seconds", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("topic", "callback", name="uq_feedsvc_websub_topic_callback"),
)

# The outbox: a row is due before any attempt and done only after a 2xx (at-least-once).
deliveries = sa.Table(
    "feedsvc_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # webhook | websub | verify | ping
    sa.Column("event_id", sa.Integer, sa.ForeignKey("feedsvc_events.id", ondelete="CASCADE"), nullable=True),
    sa.Column("endpoint_id", sa.String(40), sa.ForeignKey("feedsvc_endpoints.id", ondelete="CASCADE"), nullable=True),
    sa.Column("subscription_id", sa.Integer, nullable=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=True),  # JSON for verify/ping; may hold a hub.secret: never logged
    sa.Column("status", sa.String(16), nullable=False),  # pending | done | failed | cancelled
    sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("last_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("target", sa.Text, nullable=False, server_default=""),  # endpoint id, or the callback's origin
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),  # 0: ordinary changes, 1: bursts
    sa.Column("claimed_until", sa.Float, nullable=True),  # in flight (claimed by a process) until then
)
# in the claim's order (outbox.due_query), and covering it (target): the first due rows are read
# from the index alone, never sorted
sa.Index("ix_feedsvc_deliveries_due", deliveries.c.status, deliveries.c.priority, deliveries.c.next_at, deliveries.c.id,
         deliveries.c.target)
sa.Index("ix_feedsvc_deliveries_claimed", deliveries.c.claimed_until)
sa.Index("ix_feedsvc_deliveries_finished", deliveries.c.finished_at)
sa.Index("ix_feedsvc_deliveries_endpoint", deliveries.c.endpoint_id, deliveries.c.id)
sa.Index("ix_feedsvc_deliveries_event", deliveries.c.event_id)

attempts = sa.Table(
    "feedsvc_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("feedsvc_deliveries.id", ondelete="CASCADE"), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("response", sa.Text, nullable=True),  # the first bytes of the answer
)
sa.Index("ix_feedsvc_attempts_delivery", attempts.c.delivery_id)
