"""Save the effective config (config.yaml + --config overrides + schema defaults) beside
the results, so the report shows exactly what produced them.

    python scripts/snapshot_config.py --config-json '{"dataset": ...}' --out results/config.json
"""

from __future__ import annotations

import argparse
import json
import os

from errors import run_cli


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-json", required=True, help="the config as one JSON string")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config_json)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    run_cli(main)
