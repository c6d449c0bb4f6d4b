"""Reports of a sweep directory in the paper's layout: ``report.md``, CSV tables and PNG figures.

Example:
    >>> from benchmarks.report import write_report
    >>> paths = write_report("runs/bench/cpu-small")        # doctest: +SKIP
    >>> paths["markdown"]                                   # doctest: +SKIP
    PosixPath('runs/bench/cpu-small/report/report.md')
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from benchmarks.report.aggregate import CellRecord, Entry, calls_to_fraction, entry, load_records, load_sweep
from benchmarks.report.plots import plot_axis, plot_curves, seed_band
from benchmarks.report.tables import (
    Table,
    axis_table,
    cells_csv,
    failure_lines,
    fraction_table,
    header_lines,
    main_tables,
    speed_table,
)

__all__ = ["write_report", "build_report", "CellRecord", "Entry", "Table", "entry", "load_records", "load_sweep",
           "calls_to_fraction", "main_tables", "fraction_table", "speed_table", "axis_table", "seed_band"]

logger = logging.getLogger(__name__)


def build_report(sweep_dir: str | Path, fraction: float = 0.9) -> tuple[str, dict[str, str], list[CellRecord]]:
    """The Markdown report, its CSV files (name -> text) and the records of the sweep in ``sweep_dir``.

    Raises:
        ConfigError: ``sweep_dir`` holds no ``sweep.json``; ``fraction`` outside (0, 1].
    """
    from bbt_mp2.errors import ConfigError

    if not 0 < fraction <= 1:
        raise ConfigError(f"--fraction must lie in (0, 1], got {fraction}")
    sweep, records = load_sweep(sweep_dir), load_records(sweep_dir)
    md = header_lines(sweep, records)
    csvs = {"cells.csv": cells_csv(records)}
    md.append("## Results\n")
    for i, table in enumerate(main_tables(records), 1):
        md.append(table.markdown())
        csvs[f"table{i}.csv"] = table.csv()
    md.append("### The untuned starts of the same cells (where each method begins before any call)\n")
    for i, table in enumerate(main_tables(records, "start_test"), 1):
        md.append(table.markdown())
        csvs[f"start{i}.csv"] = table.csv()
    md.append("### The training loss the tuning reached (the objective; what an optimizer comparison measures)\n")
    for i, table in enumerate(main_tables(records, "train_loss"), 1):
        md.append(table.markdown())
        csvs[f"loss{i}.csv"] = table.csv()
    extra: list[tuple[str, Table | None]] = [
        ("calls_to_fraction.csv", fraction_table(records, fraction)), ("speed.csv", speed_table(records)),
        ("shots.csv", axis_table(records, "shots")), ("labels.csv", axis_table(records, "labels"))]
    for name, table in extra:
        if table is not None:
            md.append(table.markdown())
            csvs[name] = table.csv()
    failures = failure_lines(records)
    if failures:
        md += ["### Failed and unfinished cells", "", *failures, ""]
    return "\n".join(md), csvs, records


def write_report(sweep_dir: str | Path, out_dir: str | Path | None = None, *, fraction: float = 0.9
                 ) -> dict[str, Any]:
    """Write ``report.md``, the CSV tables and the PNG figures of a sweep to ``out_dir`` (default
    ``<sweep_dir>/report``); returns ``{"markdown": path, "csv": [paths], "png": [paths]}``."""
    out = Path(out_dir) if out_dir is not None else Path(sweep_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    md, csvs, records = build_report(sweep_dir, fraction)
    pngs = plot_curves(records, out)
    for axis in ("shots", "labels"):
        path = plot_axis(records, axis, out)
        if path is not None:
            pngs.append(path)
    if pngs:
        md += "\n## Figures\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    (out / "report.md").write_text(md)
    csv_paths = []
    for name, text in csvs.items():
        (out / name).write_text(text)
        csv_paths.append(out / name)
    logger.info("report of %s: %s", sweep_dir, out / "report.md")
    return {"markdown": out / "report.md", "csv": csv_paths, "png": pngs}
