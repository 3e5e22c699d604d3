"""`supermasks aggregate` on hand-written runs."""

import pandas as pd
import pytest

from supermasks.cli import main

from .rundirs import write_run
from .test_aggregate_tables import FINAL


def test_aggregate_writes_its_tables_and_lists_what_it_skipped(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed, final in FINAL.items():
        write_run(runs, f"hand-{seed}", seed, final)
    write_run(runs, "hand-stopped", 5, FINAL[0], status="diverged")
    assert main(["aggregate", str(runs), "--baseline", "naive"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "3 finished run(s) aggregated, 1 skipped" in out
    assert "skipped" in out and "hand-stopped: status diverged" in out
    assert "warning: skipping" in captured.err and "hand-stopped" in captured.err
    naive = next(line for line in out.splitlines() if line.startswith("naive "))
    assert naive.split()[1:4] == ["93.00", "±", f"{100 * 4.302652729911275 * 0.0013 ** 0.5 / 3 ** 0.5:.2f}"]
    assert "supsup - naive +5.00 points" in out
    out_dir = runs / "aggregate"  # one directory of runs: its tables go inside it
    assert out.strip().splitlines()[-1] == f"aggregate directory: {out_dir}"
    for name in ("runs", "summary", "comparisons"):
        assert (out_dir / f"{name}.csv").is_file() and (out_dir / f"{name}.parquet").is_file()
    assert pd.read_csv(out_dir / "skipped.csv")["run_directory"].tolist() == [str(runs / "hand-stopped")]
    assert (out_dir / "figures" / "ACC.png").stat().st_size > 0


def test_aggregate_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["aggregate", str(empty)]) == 2
    assert "holds none" in capsys.readouterr().err
    write_run(tmp_path / "runs", "hand-0", 0, FINAL[0])
    assert main(["aggregate", str(tmp_path / "runs"), "--by", "colour", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot compare by 'colour'" in err and "Traceback" not in err
    write_run(tmp_path / "stopped", "hand-0", 0, FINAL[0], status="interrupted")
    assert main(["aggregate", str(tmp_path / "stopped"), "-o", str(tmp_path / "out2")]) == 1
    assert "0 finished run(s) aggregated, 1 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["aggregate", "compare", "run"])
def test_help_describes_seeds_and_intervals(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "95% " in out and "%%" not in out
    assert ("Parquet" in out) if command == "aggregate" else ("seeds=[0,1,2]" in out)
