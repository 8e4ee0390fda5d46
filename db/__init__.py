"""The store: SQLModel schema, engine, migrations, queries and upserts."""
