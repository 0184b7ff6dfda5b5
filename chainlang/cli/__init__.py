"""The ``chainlang`` command: argument parsing and one function per command, nothing else.

``app`` builds the parser and holds the language commands (check, fmt, dump);
``commands`` the run-side ones (plan, run, score, data, cache); ``experiment_commands``
sweep, report and trace; ``demo`` the offline tour; ``support`` exit codes and helpers.
"""

from chainlang.cli.app import main

__all__ = ["main"]
