"""An example chainlang plugin: the ``snap`` operation and the ``within`` metric."""
