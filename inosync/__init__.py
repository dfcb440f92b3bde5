"""inosync: mirror a directory tree to remote nodes in near real time."""

__version__ = "0.1.0"
