"""The migrations build exactly the tables the store's code defines (controller/store_tables.py),
on SQLite and PostgreSQL: a table or column added to one and not the other fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from controller.store import Store, held_profiles, metadata


def test_the_migrated_schema_matches_the_tables_in_code(store_url):
    store = Store(store_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            differences = compare_metadata(context, metadata)
            tables = set(conn.dialect.get_table_names(conn))
    finally:
        store.close()
    assert differences == []
    assert held_profiles.name in tables  # migration 0005
