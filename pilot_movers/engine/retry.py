"""Retry policy as data, through tenacity: capped attempts, exponential backoff with jitter."""

from __future__ import annotations

from typing import Any, Callable

import tenacity

from pilot_movers.engine.settings import TransferSettings


def round_policy(
    settings: TransferSettings,
    *,
    sleep: Callable[[float], None],
    before_sleep: Callable[[tenacity.RetryCallState], None],
) -> tenacity.Retrying:
    """Retry a round of transfers while it leaves files pending (the round returns them).

    Each round returns the files whose last attempt failed transiently; tenacity calls it again
    after an exponential, jittered wait until nothing is pending or ``max_attempts`` rounds ran.
    The last round's pending list is returned, not raised.
    """
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.max_attempts),
        wait=tenacity.wait_exponential(multiplier=settings.backoff_initial, max=settings.backoff_max)
        + tenacity.wait_random(0, settings.backoff_jitter),
        retry=tenacity.retry_if_result(bool),
        retry_error_callback=_last_result,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _last_result(state: tenacity.RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()
