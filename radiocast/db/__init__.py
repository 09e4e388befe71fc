"""The database, the single source of truth: schema, engine, migrations, every state change as
a named function (ops), read views, and the lease that lets two hubs share it."""
