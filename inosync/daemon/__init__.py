"""The daemon: the loop that turns source facts into node work, and systemd."""
