"""Alembic environment for feedsvc's notification store.

feedsvc runs migrations itself (``feedsvc.notify.store.upgrade``) and hands Alembic an open
connection in ``config.attributes["connection"]``; no alembic.ini is needed.
"""

from __future__ import annotations

from alembic import context

from feedsvc.notify.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via feedsvc.notify.store.upgrade
    raise RuntimeError("run migrations with `feedsvc db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
