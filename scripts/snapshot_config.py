"""Save the effective config (config.yaml + --config overrides + schema defaults) beside the
results, so the report shows exactly what produced them.

    python scripts/snapshot_config.py --config-json '{"dataset": ...}' --out results/config.json

The file's owner: scripts/kemdy/spec.py.
"""

from __future__ import annotations

import argparse
import json

from kemdy.errors import InputError, run_cli
from kemdy.spec import write_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-json", required=True, help="the config as one JSON string")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config_json)
    except json.JSONDecodeError as err:
        raise InputError("--config-json", f"not valid JSON ({err})", "pass the config as JSON")
    write_config(args.out, config)


if __name__ == "__main__":
    run_cli(main)
