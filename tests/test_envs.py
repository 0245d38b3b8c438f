"""The conda envs are written for users (conda cannot run here): they must parse and pin
exactly the versions of requirements.txt, so both ways of installing give the same stack."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


REQUIREMENTS = pins((REPO / "requirements.txt").read_text().splitlines())


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_parses_and_agrees_with_requirements(env):
    spec = yaml.safe_load(env.read_text())
    assert spec["name"].startswith("kemdy20-")
    pip_lists = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict)]
    assert pip_lists, f"{env.name}: no pip section"
    env_pins = pins(pip_lists[0])
    assert env_pins, f"{env.name}: nothing pinned"
    for name, version in env_pins.items():
        assert name in REQUIREMENTS, f"{env.name}: {name} is not in requirements.txt"
        assert version == REQUIREMENTS[name], f"{env.name}: {name}=={version} but requirements.txt has {REQUIREMENTS[name]}"


def test_every_rule_env_exists():
    for smk in (REPO / "rules").glob("*.smk"):
        for line in smk.read_text().splitlines():
            if line.strip().startswith('"../envs/'):
                assert (REPO / "rules" / line.strip().strip('",')).resolve().exists(), line


def test_requirements_pin_everything_exactly():
    lines = [l.split("#")[0].strip() for l in (REPO / "requirements.txt").read_text().splitlines()]
    lines = [l for l in lines if l]
    assert all("==" in l for l in lines), [l for l in lines if "==" not in l]
    assert REQUIREMENTS["torch"] == "2.13.0"
