"""Save the effective config (config.yaml + --config overrides + schema defaults) beside
the results, so the report shows exactly what produced them.

    python scripts/snapshot_config.py --config-json '{"dataset": ...}' --out results/config.json
"""

from __future__ import annotations

import argparse
import json
from atomic import write_atomic
from errors import run_cli


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-json", required=True, help="the config as one JSON string")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config_json)
    write_atomic(args.out, json.dumps(config, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    run_cli(main)
