"""The command-line interface (argparse, imported lazily per command for fast start-up)."""
