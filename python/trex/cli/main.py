"""The `trex` command: one entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trex", description="t-ReX training, transfer and benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    from trex import bench, viz
    from trex.cli import compare, demo, train, transfer

    for module in (train, transfer, compare, bench, viz, demo):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
