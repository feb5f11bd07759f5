"""run_trials: results in seed order from worker processes or in-process, errors re-raised."""
import pytest

from tinygrad_rnn.learn.trials import run_trials


def square_plus(seed, offset, scale=1):
    return (seed * seed + offset) * scale


def fails_on_three(seed):
    if seed == 3:
        raise ValueError(f"trial {seed} failed")
    return seed


@pytest.mark.parametrize("processes", [1, 2])
def test_results_come_back_in_seed_order(processes):
    seeds = [5, 1, 4, 2, 3]
    assert run_trials(square_plus, seeds, 10, scale=2, processes=processes, quiet=True) == [
        (s * s + 10) * 2 for s in seeds]


@pytest.mark.parametrize("processes", [1, 2])
def test_a_failing_trial_raises_here(processes):
    with pytest.raises(ValueError, match="trial 3 failed"):
        run_trials(fails_on_three, range(5), processes=processes, quiet=True)


def test_processes_must_be_positive():
    with pytest.raises(ValueError, match="processes must be at least 1, got 0"):
        run_trials(square_plus, [1], 0, processes=0)
