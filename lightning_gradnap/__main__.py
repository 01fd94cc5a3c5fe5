"""``python -m lightning_gradnap report <log_dir> -o report.html``: the dashboard as one HTML file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run its command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m lightning_gradnap", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    report = commands.add_parser(
        "report",
        help="write the GradNAP dashboard of a log directory as one self-contained HTML file",
        description="Write the GradNAP dashboard (the TensorBoard tab's page) with its data inlined, "
        "as one HTML file that opens from disk.",
    )
    from lightning_gradnap.dashboard import report as report_command  # imported here: `--help` stays quick

    report_command.add_arguments(report)
    args = parser.parse_args(argv)
    report_command.main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
