"""What can be known before a run: the one static evaluator and the call bounds it yields."""
