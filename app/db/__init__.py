"""Metadata store: declarative base, engine and sessions, the ORM tables, migrations at start."""
