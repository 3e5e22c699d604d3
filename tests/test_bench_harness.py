"""benchmarks/run_all.py: every script's section in results.md, failures reported, the harness itself and _files skipped."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPTS = {
    "alpha.py": """
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--quick", action="store_true")
        print("noise before the section")
        print("## Alpha figures\\n\\n| a |\\n|---|\\n| quick=%s |" % parser.parse_args().quick)
    """,
    "beta.py": """
        import sys
        print("plain output, no heading", sys.argv[1:])
    """,
    "gamma.py": """
        import sys
        print("## Gamma")
        print("line one of the trouble\\nValueError: it broke", file=sys.stderr)
        sys.exit(3)
    """,
    "_shared.py": "raise SystemExit('a private module is not a benchmark')",
    "run_all.py": "raise SystemExit('the harness is not a benchmark')",
}


def test_results_collect_every_section_and_report_failures(tmp_path):
    for name, code in SCRIPTS.items():
        (tmp_path / name).write_text(textwrap.dedent(code))
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--directory",
                           str(tmp_path), "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # gamma failed
    text = out.read_text()
    assert text.startswith("# Benchmark results")
    for fact in ("- CPU: ", "- memory: ", "- OS: ", "torch 2.13", "- thread variables", "- date: ", "quick"):
        assert fact in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Alpha figures", "## beta", "## gamma"]
    assert "| quick=True |" in text and "noise before the section" not in text
    assert "plain output, no heading []" in text  # beta has no --quick: run without it
    assert "**failed** with exit code 3" in text and "ValueError: it broke" in text
    assert "private module" not in text and "the harness is not" not in text
