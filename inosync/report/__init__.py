"""What each node's state is, rendered for STATUS, status.json, metrics and the commands."""
