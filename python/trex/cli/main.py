"""The `trex` command: one entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import logging
import sys

# Each module defines NAME, HELP, add_arguments(parser) and run(args); importing it imports no
# torch, so that `trex --help`, `trex train --help` and flag errors answer at once.
COMMANDS = (
    "trex.cli.train",
    "trex.cli.transfer",
    "trex.cli.compare",
    "trex.cli.bench",
    "trex.cli.grid",
    "trex.cli.demo",
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="trex", description="t-ReX training, transfer and benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    # The subcommand is the first argument that is not an option (`trex` itself takes only -h);
    # only its flags are defined, since defining some (compare's, bench's) reads more modules.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for module in (__import__(name, fromlist=["NAME"]) for name in COMMANDS):  # as `import`: -X importtime sees it
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        if module.NAME == chosen:
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
