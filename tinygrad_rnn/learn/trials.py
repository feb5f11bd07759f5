"""Running the independent trials of an experiment (one per seed) side by side in worker
processes, with a progress bar that estimates the time left (tqdm), and the results back in
seed order. Each trial must be a module-level function (workers import it by name)."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed


def default_processes() -> int:
    """Worker processes: ``TINYGRAD_RNN_TRIAL_PROCESSES``, else the machine's cores."""
    return int(os.environ.get("TINYGRAD_RNN_TRIAL_PROCESSES", os.cpu_count() or 1))


def run_trials(trial: Callable, seeds: Sequence[int], *args, processes: int | None = None,
               desc: str = "trials", quiet: bool = False, **kwargs) -> list:
    """``[trial(seed, *args, **kwargs) for seed in seeds]``, computed in ``processes`` worker
    processes (default ``default_processes()``; 1 runs them here, in order) under a tqdm
    progress bar on stderr (``quiet`` hides it). A trial that raises stops the run and
    re-raises here. Results are in the order of ``seeds``, whatever order they finish in."""
    from tqdm import tqdm
    seeds = list(seeds)
    processes = default_processes() if processes is None else processes
    if processes < 1:
        raise ValueError(f"run_trials: processes must be at least 1, got {processes}")
    bar = tqdm(total=len(seeds), desc=desc, unit="trial", disable=quiet, file=sys.stderr,
               dynamic_ncols=True)
    results: dict[int, object] = {}
    try:
        if processes == 1 or len(seeds) == 1:
            for k, seed in enumerate(seeds):
                results[k] = trial(seed, *args, **kwargs)
                bar.update(1)
        else:
            # one BLAS thread per worker: the workers already fill the cores
            env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                with ProcessPoolExecutor(max_workers=min(processes, len(seeds))) as pool:
                    futures = {pool.submit(trial, seed, *args, **kwargs): k
                               for k, seed in enumerate(seeds)}
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        bar.update(1)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
    finally:
        bar.close()
    return [results[k] for k in range(len(seeds))]
