"""Versions that only move forward (observed_at), fair and prioritised claims (target,
priority, claimed_until), and the indexes that pruning and refreshing use (issue 8).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("feedsvc_content_state", "feedsvc_topic_state"):
        op.add_column(table, sa.Column("observed_at", sa.Float, nullable=False, server_default="0"))
    op.create_index("ix_feedsvc_content_state_updated", "feedsvc_content_state", ["updated_at"])
    op.create_index("ix_feedsvc_topic_state_updated", "feedsvc_topic_state", ["updated_at"])
    op.create_index("ix_feedsvc_events_created", "feedsvc_events", ["created_at"])

    op.add_column("feedsvc_deliveries", sa.Column("target", sa.Text, nullable=False, server_default=""))
    op.add_column("feedsvc_deliveries", sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
    op.add_column("feedsvc_deliveries", sa.Column("claimed_until", sa.Float, nullable=True))
    op.execute("UPDATE feedsvc_deliveries SET target = COALESCE(endpoint_id, url)")
    op.drop_index("ix_feedsvc_deliveries_due", table_name="feedsvc_deliveries")
    op.create_index("ix_feedsvc_deliveries_due", "feedsvc_deliveries", ["status", "priority", "next_at", "target"])
    op.create_index("ix_feedsvc_deliveries_claimed", "feedsvc_deliveries", ["claimed_until"])
    op.create_index("ix_feedsvc_deliveries_finished", "feedsvc_deliveries", ["finished_at"])
    op.create_index("ix_feedsvc_deliveries_event", "feedsvc_deliveries", ["event_id"])
    # stores made before topics were recorded quietly at initialisation: theirs are already recorded
    op.execute("INSERT INTO feedsvc_meta (key, value) SELECT 'topics_initialized', value FROM feedsvc_meta "
               "WHERE key = 'initialized'")


def downgrade() -> None:
    op.execute("DELETE FROM feedsvc_meta WHERE key = 'topics_initialized'")
    for name in ("ix_feedsvc_deliveries_event", "ix_feedsvc_deliveries_finished", "ix_feedsvc_deliveries_claimed",
                 "ix_feedsvc_deliveries_due"):
        op.drop_index(name, table_name="feedsvc_deliveries")
    op.create_index("ix_feedsvc_deliveries_due", "feedsvc_deliveries", ["status", "next_at"])
    with op.batch_alter_table("feedsvc_deliveries") as batch:
        for column in ("claimed_until", "priority", "target"):
            batch.drop_column(column)
    op.drop_index("ix_feedsvc_events_created", table_name="feedsvc_events")
    op.drop_index("ix_feedsvc_topic_state_updated", table_name="feedsvc_topic_state")
    op.drop_index("ix_feedsvc_content_state_updated", table_name="feedsvc_content_state")
    for table in ("feedsvc_topic_state", "feedsvc_content_state"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("observed_at")
