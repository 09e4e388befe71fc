"""The database: schema, engine, migrations, every state transition (ops), read views."""
