"""What refusing a table bomb costs: each file read by engine.base.tables.read_table in a fresh
process, with the default limits, reporting the refusal, the time and the peak RSS.

    .venv/bin/python bench/table_bombs.py

The files are the tests' (tests/test_tabular_import.py): a row of three million cells, a
300 MB shared string, a cell 1.5 million rows down, 1.5 million unnumbered rows (also with
the ratio limit lifted), and a good 1000-row results table as the baseline. Speed is measured here, not asserted
in the tests.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

CASES = ("good_1000_rows", "three_million_cells", "shared_string_300_mb", "row_1_500_000",
         "unnumbered_rows", "unnumbered_rows_ratio_allowed")


def build(case: str) -> bytes:
    from tests import test_tabular_import as t

    if case == "good_1000_rows":
        return t.xlsx_file([t.result_row(rank, f"选手{rank}", serial=rank) for rank in range(1, 1001)])
    if case == "three_million_cells":
        return t.three_million_cells()
    if case == "shared_string_300_mb":
        return t.a_300_mb_shared_string()
    if case == "row_1_500_000":
        return t.far_last_row()
    return t.xlsx_with({t.SHEET: t.sheet_of(lambda: [t.header_row(), b"<row/>" * 1_500_000])})


def measure(case: str) -> None:
    """In this (fresh) process: build the file, then read it once under the RSS sampler."""
    from dataclasses import replace

    from measure import RssSampler, peak_rss_mib

    from engine.base.tables import TableImportFailed, TableLimits, read_table

    data = build(case)
    limits = TableLimits.from_env()
    if case.endswith("ratio_allowed"):
        limits = replace(limits, max_compression_ratio=10 ** 6)
    before = peak_rss_mib()
    start = time.perf_counter()
    with RssSampler(0.005) as sampler:
        try:
            outcome = f"read {len(read_table('x.xlsx', data, limits))} rows"
        except TableImportFailed as err:
            outcome = "refused: " + err.problems[0].message
    elapsed = time.perf_counter() - start
    print(f"| {case} | {len(data) / 1024:,.0f} KB | {elapsed * 1000:,.0f} ms | {before:.0f} → {sampler.peak_mib:.0f} MiB "
          f"| {outcome[:90]} |")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        measure(sys.argv[2])
        return
    from measure import machine

    print(machine())
    print("| file | size | read | RSS before → peak while reading | outcome |\n|---|---|---|---|---|")
    for case in CASES:
        subprocess.run([sys.executable, __file__, "--one", case], check=True)


if __name__ == "__main__":
    main()
