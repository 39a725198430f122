"""The ``cleanheat`` command. Each area adds a module here exposing ``app`` (a typer.Typer) and ``NAME``."""
