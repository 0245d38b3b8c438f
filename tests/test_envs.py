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


# -- every rule's script imports only what its conda env provides ------------------------

import ast  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

IMPORT_NAMES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow"}
# Installed with a pinned package though not pinned themselves.
COMES_WITH = {"transformers": {"huggingface_hub"}, "matplotlib": {"PIL"}}


def rule_scripts() -> list[tuple[str, str, str]]:
    """(rule, script, env file) of every rule: the scripts its shell runs and its conda env."""
    found = []
    smks = {smk: smk.read_text() for smk in sorted((REPO / "rules").glob("*.smk"))}
    # a shell or params kept in a variable (TRAIN_SHELL = (...), TRAIN_PARAMS = dict(...)) or
    # made by a function count where they are used
    shared = {}
    for text in smks.values():
        shared.update(re.findall(r"^(\w+) = (?:dict)?\((.*?)\n\)", text, flags=re.M | re.S))
        shared.update(re.findall(r"^def (\w+)\((.*?)(?=^\S)", text, flags=re.M | re.S))
    for text in smks.values():
        for block in re.split(r"\n(?=\s*(?:rule|use rule) )", text):
            name = re.match(r"\s*(?:use )?rule (\w+)", block)
            env = re.search(r'"\.\./envs/(\w+)\.yaml"', block)
            block += "".join(v for k, v in shared.items() if re.search(rf"\b{k}\b", block))
            if name and env:
                for script in re.findall(r'step\("scripts/(\w+)\.py"\)', block):
                    found.append((name.group(1), script, env.group(1)))
    return found


def imported(path: Path, seen: set) -> set[str]:
    """Top-level modules a file imports, anywhere in it (functions included), following the
    project's own modules (scripts/ and scripts/kemdy/)."""
    if path in seen:
        return set()
    seen.add(path)
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            own = REPO / "scripts" / (name.replace(".", "/") + ".py")
            package = REPO / "scripts" / name.replace(".", "/") / "__init__.py"
            if own.exists() or package.exists():
                out |= imported(own if own.exists() else package, seen)
            elif name.split(".")[0] != "kemdy" and not (REPO / "scripts" / f"{name}.py").exists():
                out.add(name.split(".")[0])
    return out


@pytest.mark.parametrize("rule, script, env", rule_scripts(), ids=lambda x: str(x))
def test_every_rule_script_imports_only_what_its_env_provides(rule, script, env):
    spec = yaml.safe_load((REPO / "envs" / f"{env}.yaml").read_text())
    pip = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict)][0]
    provided = set(pins(pip))
    provided |= {m for p in provided for m in COMES_WITH.get(p, ())}
    third_party = {m for m in imported(REPO / "scripts" / f"{script}.py", set())
                   if m not in sys.stdlib_module_names and m != "__future__"}
    missing = {m for m in third_party if IMPORT_NAMES.get(m, m).lower() not in provided
               and m not in provided}
    assert not missing, f"rule {rule}: scripts/{script}.py imports {sorted(missing)}, " \
                        f"which envs/{env}.yaml does not provide"


def test_every_script_at_the_top_of_scripts_is_run_by_a_rule():
    # scripts/ holds step entry points only; shared code lives in scripts/kemdy/
    on_disk = {p.stem for p in (REPO / "scripts").glob("*.py")}
    assert on_disk == {script for _, script, _ in rule_scripts()}


def test_every_rule_with_a_script_is_checked():
    assert {r for r, _, _ in rule_scripts()} >= {"ingest", "decode_audio", "train",
                                                  "render_report", "predict"}


def test_the_cheap_steps_never_pay_for_torch():
    # Importing torch and transformers costs seconds: only the steps that need them pay.
    heavy = {"torch", "transformers"}
    needs = {"train", "predict", "build_demo_encoders"}  # gpu_slot.py, the launcher, does not
    for rule, script, _ in rule_scripts():
        if script not in needs:
            assert not imported(REPO / "scripts" / f"{script}.py", set()) & heavy, (rule, script)
