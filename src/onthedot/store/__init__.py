"""The store: SQLAlchemy 2 tables, Alembic migrations, repositories. SQLite (WAL) by default, any
SQLAlchemy URL through ``ONTHEDOT_DATABASE_URL`` or ``--database``; PostgreSQL is first-class."""
