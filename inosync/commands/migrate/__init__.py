"""`inosync migrate`: older inosync and lsyncd configs read as data, written as TOML."""
