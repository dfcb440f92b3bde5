"""`inosync check`: the config, then each node, tried as the daemon would."""
