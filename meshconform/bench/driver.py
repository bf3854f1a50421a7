"""The bench's warm runner: one process that runs the suite again and again with pytest.main.

Why a separate process and module: a fresh `python -m pytest` spends seconds importing pytest,
its plugins and the Kubernetes client before the first request, the same for every
configuration; timing only that would hide how the suite's own work grows with clusters and
requests. This process pays the imports once (the bench sends a warm-up run first), then times
each `pytest.main([...--lab...])` call, lab start and stop included. It is the only library
module besides the report glue that imports pytest: it *is* a pytest driver, started by
`meshconform.bench.cli` as a child process, never imported by the library.

Protocol: one JSON job per stdin line, {"args": [...], "output": PATH, "request_log": PATH};
one JSON result per stdout line, {"exit_code": N, "wall_s": S, "cpu_s": S}. pytest's own
output goes to the job's output file (file descriptors 1 and 2 are pointed there for the run,
so the lab's and xdist's writes land there too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import pytest

ENV_REQUEST_LOG = "MESHCONFORM_LAB_REQUEST_LOG"  # read by fixtures/lab.py when it starts the lab


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One pytest.main call with its output in job["output"]; wall and CPU time of the call."""
    os.environ[ENV_REQUEST_LOG] = str(job["request_log"])
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(job["output"], "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        started, cpu = time.monotonic(), time.process_time()
        try:
            code = int(pytest.main(list(job["args"])))
        except BaseException as exc:  # a run that blows up is a result, not the end of the bench
            print(f"pytest.main raised {type(exc).__name__}: {exc}", file=sys.stderr)
            code = -1
        finally:
            wall, cpu = time.monotonic() - started, time.process_time() - cpu
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
    for fd in saved:
        os.close(fd)
    os.environ.pop(ENV_REQUEST_LOG, None)
    return {"exit_code": code, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main() -> int:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
