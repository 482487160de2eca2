"""The `partitions` part of `make bench`: retention, ingest and reads on the partitioned
readings table at 50M readings (BENCH_PARTITION_ROWS), each beside an unpartitioned copy of the
same rows in the same database, measured in the same run (probes/partitions.py says how).

Run alone: `python -m bench.partitions` (bakes the default project; needs PostgreSQL on
127.0.0.1). At 50M readings the run takes about an hour on a 2-core machine and some 20 GB
of disk while both tables exist; BENCH_PARTITION_ROWS=5000000 gives the same rows in minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .__main__ import Project
from .common import environment

PROBE = Path(__file__).resolve().parent / "probes/partitions.py"
TIMES_FASTER = 100
INGEST_AT_LEAST = 0.9


def measure(project: Project) -> dict:
    database_url = project.fresh_database("partitions")
    process = subprocess.run(
        [project.python, PROBE],
        cwd=project.root,
        env=environment(DATABASE_URL=database_url),
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.returncode != 0:
        sys.exit("the partitions probe failed")
    return json.loads(process.stdout)


def rows(f: dict, row: Callable[..., dict]) -> list[dict]:
    at = f"{f['partition_rows'] / 1e6:,.0f}M readings"
    same = "unpartitioned copy, same run"
    lateral = "LATERAL per (device, name) on the unique index, partitioned table, same run"
    day = f"{f['prune_rows']:,.0f} readings"
    return [
        row(f"partitions: load of {at} by COPY, a day at a time (rows/s)",
            f["partition_load_rows_per_s"]),
        row(f"partitions: prune of a day past the window ({day}), partition dropped (ms)",
            f["prune_drop_ms"], f["prune_delete_ms"], f"DELETE of the same rows, {same}",
            f">= {TIMES_FASTER}x faster",
            f["prune_delete_ms"] >= TIMES_FASTER * f["prune_drop_ms"]),
        row(f"partitions: deleting a file of the dropped partitions' size, "
            f"{f['prune_partition_mb']:,.0f} MB (ms)",
            f["prune_unlink_ms"], f["prune_drop_ms"], "partition dropped",
            "context: the floor of a drop on this disk"),
        row("partitions: the same DELETE with a BRIN index on valid_at (ms)",
            f["prune_delete_brin_ms"], f["prune_drop_ms"], "partition dropped",
            "context: the best an unpartitioned table does"),
        row("partitions: VACUUM after that DELETE, unpartitioned copy (s)",
            f["prune_vacuum_s"]),
        row("partitions: partitioned table after 6 days pruned (GB)",
            f["partitioned_gb_after"], f["partitioned_gb_before"], "before",
            "smaller: no bloat left", f["partitioned_gb_after"] < f["partitioned_gb_before"]),
        row("partitions: unpartitioned copy after 6 days deleted and VACUUM (GB)",
            f["unpartitioned_gb_after_vacuum"], f["unpartitioned_gb_before"], "before",
            "context: the space stays the table's"),
        row(f"partitions: ingest at {at}, poll batches (rows/s)",
            f["ingest_poll_partitioned_rows_per_s"], f["ingest_poll_unpartitioned_rows_per_s"],
            same, f">= {INGEST_AT_LEAST}x",
            f["ingest_poll_partitioned_rows_per_s"]
            >= INGEST_AT_LEAST * f["ingest_poll_unpartitioned_rows_per_s"]),
        row(f"partitions: ingest at {at}, backfill (rows/s)",
            f["ingest_backfill_partitioned_rows_per_s"],
            f["ingest_backfill_unpartitioned_rows_per_s"], same, f">= {INGEST_AT_LEAST}x",
            f["ingest_backfill_partitioned_rows_per_s"]
            >= INGEST_AT_LEAST * f["ingest_backfill_unpartitioned_rows_per_s"]),
        row(f"partitions: latest reading of every device at {at}, query (ms)",
            f["partitioned_latest_query_ms"], f["partitioned_latest_lateral_ms"], lateral,
            "faster than LATERAL",
            f["partitioned_latest_query_ms"] < f["partitioned_latest_lateral_ms"]),
        row(f"partitions: latest reading of every device at {at}, endpoint (ms)",
            f["partitioned_latest_endpoint_ms"], 50.0, "target", "<= 50 ms",
            f["partitioned_latest_endpoint_ms"] <= 50),
        row(f"partitions: history for a chart at {at}: 30 days, hourly, API (ms)",
            f["partitioned_history_ms"], 20.0, "target", "<= 20 ms",
            f["partitioned_history_ms"] <= 20),
        row("partitions: machine load during the reads (1-minute load average)",
            f["partitioned_reads_load_average"], f["partitioned_cores"], "cores"),
    ]  # fmt: skip


if __name__ == "__main__":
    from .common import row

    project = Project("partitions")
    try:
        for line in rows(measure(project), row):
            print(f"{line['work']}: {line['this']:,.2f} (reference {line['reference']})")
    finally:
        project.drop_databases()
