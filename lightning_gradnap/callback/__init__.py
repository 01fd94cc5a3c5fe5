"""The Lightning side: the callback, its schedule, history and loggers (the only package that imports lightning)."""
