"""Benchmarks: each part times our way against a baseline in the same run and prints the
ratio (these machines are noisy: absolute times move, ratios much less).

    python -m bench aggregate train-text train-audio workflow

They import the workflow's library (scripts/kemdy), never its step scripts.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "scripts"))
