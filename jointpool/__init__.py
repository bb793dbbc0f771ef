"""The command line and the all-in-one launcher: the one place that wires the pool together."""
