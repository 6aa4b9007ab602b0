"""Where a predict runs: on the event loop only for a deployment whose recent predicts were quick
and for a small body; a slow predict keeps it in the thread pool until quick ones wear it down."""

from app.serving.pace import INLINE_MAX_BYTES, INLINE_MAX_SECONDS, Pace


def test_a_deployment_not_seen_yet_goes_to_the_thread_pool() -> None:
    assert not Pace().inline("churn", 100)


def test_quick_predicts_run_on_the_loop_but_not_for_a_large_body() -> None:
    pace = Pace()
    pace.record("churn", INLINE_MAX_SECONDS / 4)

    assert pace.inline("churn", 100)
    assert pace.inline("churn", INLINE_MAX_BYTES)
    assert not pace.inline("churn", INLINE_MAX_BYTES + 1)
    assert not pace.inline("other", 100)


def test_one_slow_predict_moves_it_off_the_loop_for_a_while() -> None:
    pace = Pace()
    pace.record("churn", INLINE_MAX_SECONDS / 4)
    pace.record("churn", INLINE_MAX_SECONDS * 5)

    quick_ones = 0
    while not pace.inline("churn", 100):
        pace.record("churn", INLINE_MAX_SECONDS / 4)
        quick_ones += 1
    # Five times over the bound decays under it after about fifteen quick predicts (0.9 ** 16 < 1/5).
    assert 10 <= quick_ones <= 20
