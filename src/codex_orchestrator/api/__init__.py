"""The in-process service behind every front end: the CLI, `serve --stdio` and the Python API."""
