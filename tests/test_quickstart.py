"""The README's Quickstart is the contract: exactly two lines, and .ci/run runs the test line."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quickstart_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the Quickstart has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_a_main_job_line_and_a_test_line():
    main_job, tests = quickstart_lines()
    assert "pip install -e ." in main_job and "python -m " in main_job
    assert "pip install -e '.[dev]'" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_line():
    script = (ROOT / ".ci" / "run").read_text()
    extract = next(line for line in script.splitlines() if line.startswith("line=$("))
    command = extract.removeprefix("line=$(").split(") ||")[0]
    found = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == quickstart_lines()[1]
