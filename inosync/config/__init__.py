"""The instance's TOML config, checked into frozen dataclasses (pure)."""
