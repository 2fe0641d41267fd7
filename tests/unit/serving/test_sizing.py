from modelmart.serving.sizing import BatchSizer, candidate_sizes


def test_candidates_start_at_the_configured_size_then_halve() -> None:
    assert candidate_sizes(16) == [16, 8, 4, 2, 1]
    assert candidate_sizes(12) == [12, 8, 4, 2, 1]
    assert candidate_sizes(1) == [1]


def run_full_batches(sizer: BatchSizer, cost_per_row: dict[int, float], batches: int) -> None:
    for _ in range(batches):
        size = sizer.cap
        sizer.observe(size, cost_per_row[size] * size)


def test_a_model_that_slows_down_in_big_batches_is_capped_where_a_row_costs_least() -> None:
    sizer = BatchSizer(16, trials=3)
    assert sizer.cap == 16  # starts as configured
    mobilenet = {16: 0.034, 8: 0.025, 4: 0.020, 2: 0.016, 1: 0.017}
    run_full_batches(sizer, mobilenet, 15)
    assert sizer.cap == 2
    assert sizer.learnt == mobilenet


def test_a_model_that_gains_from_batches_keeps_the_configured_size() -> None:
    sizer = BatchSizer(32, trials=2)
    encoder = {32: 0.002, 16: 0.0025, 8: 0.003, 4: 0.004, 2: 0.006, 1: 0.009}
    run_full_batches(sizer, encoder, 12)
    assert sizer.cap == 32


def test_partial_batches_say_nothing_about_the_size_on_trial() -> None:
    sizer = BatchSizer(8, trials=1)
    for _ in range(10):
        sizer.observe(3, 0.01)  # light load: the queue ran dry before the batch filled
    assert sizer.cap == 8
    assert sizer.learnt == {}


def test_it_tries_again_after_a_while_and_when_the_limit_changes() -> None:
    now = [0.0]
    sizer = BatchSizer(4, trials=1, refresh_s=60, clock=lambda: now[0])
    run_full_batches(sizer, {4: 0.3, 2: 0.1, 1: 0.2}, 3)
    assert sizer.cap == 2
    now[0] = 61.0
    assert sizer.cap == 4  # exploring again, from the configured size
    sizer.limit = 1
    assert sizer.cap == 1
