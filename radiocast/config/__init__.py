"""The configuration: one TOML file read and validated once into typed settings (stations,
alerts, hubs, report heading), with messages that name the key and say how to fix it."""
