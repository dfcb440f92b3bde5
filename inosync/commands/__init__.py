"""The one-shot commands (`inosync check`, `status`, `verify`, ...), one module each."""
