"""Time limits for the Ray executor's batches (``executor.eval_timeout``).

A batch in flight may still be waiting for a node (the cluster's free CPUs are fewer than
its slots while other work holds some, or a node is being added), so the driver cannot time
it from submission: each batch tells a small actor, :class:`StartClock`, when it began to
run. The actor is one process among many and may die (the OOM killer, a bug); a search must
not stop for that, nor run on untimed. So the driver asks the actor only *how long* each
batch has run, and keeps the deadline itself, on its own monotonic clock
(:class:`Deadlines`): once it has seen a batch start it no longer needs the actor for it.
No two machines' clocks are ever compared, only durations cross between them.

Ray restarts the actor (``max_restarts=-1``) and holds the calls made to it meanwhile until
it is back (``max_task_retries=-1``), but the restarted actor remembers no start. Each
incarnation has its own id, so the driver sees a restart; the batches running then that it
had not yet seen start are timed from that moment: at most a little extra time for them, or,
for one still waiting for a node, its wait counted from then until it starts (its start,
reported to the restarted actor, then moves its deadline later again).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

LOST_WARNING = ("neurevo: warning: the time-limit clock actor was lost and restarted; "
                "batches running then are timed from now")
# how long one poll waits for the actor's answer: it comes within milliseconds unless the
# actor is being restarted, and then the answer is picked up by a later poll
ANSWER_WAIT_S = 0.5


class StartClock:
    """When each batch began to run, by token: a Ray actor, on the driver's node, reserving
    nothing. A re-run after a worker died reports again, which overwrites the start: its
    limit counts from the re-run's start. Restarted by Ray should its process die; a
    restart forgets every start, which the driver notices by ``incarnation`` (its
    :class:`Deadlines` keep what it had already seen)."""

    def __init__(self) -> None:
        self.starts: dict[int, float] = {}
        self.incarnation = random.getrandbits(63)  # new with each restart of the actor

    def started(self, token: int) -> None:
        self.starts[token] = time.monotonic()

    def born(self) -> int:
        """This incarnation's id."""
        return self.incarnation

    def elapsed(self, tokens: list[int]) -> tuple[int, dict[int, float]]:
        """This incarnation's id, and the seconds run so far by those of ``tokens`` that
        have started (as far as it knows)."""
        now = time.monotonic()
        return self.incarnation, {t: now - self.starts[t] for t in tokens if t in self.starts}

    def forget(self, tokens: list[int]) -> None:
        for t in tokens:
            self.starts.pop(t, None)


class Deadlines:
    """When each running batch must be done, on the driver's own monotonic clock. Pure
    bookkeeping (no Ray), so that what happens around a restart can be tested directly.

    A deadline only ever moves later: an elapsed time that implies a later start is a
    re-run (the clock's start was overwritten), or a start the clock heard of late; one
    implying an earlier start is the latency of an earlier answer, never less time owed.
    """

    def __init__(self, incarnation: int | None = None) -> None:
        self.incarnation = incarnation  # the clock's, as last seen
        self.limits: dict[int, float] = {}  # token -> seconds, for every running batch
        self.at: dict[int, float] = {}  # token -> deadline, once its start is known

    def add(self, token: int, limit: float) -> None:
        self.limits[token] = limit

    def drop(self, token: int) -> None:
        self.limits.pop(token, None)
        self.at.pop(token, None)

    def running(self) -> list[int]:
        return list(self.limits)

    def observe(self, elapsed: Mapping[int, float], incarnation: int, now: float) -> bool:
        """Take the clock's answer (``elapsed`` by token, from incarnation ``incarnation``)
        received at ``now``. Whether it shows that the clock restarted; if so, running
        batches not yet seen to start are timed from ``now`` (:meth:`lost`)."""
        restarted = self.incarnation is not None and incarnation != self.incarnation
        self.incarnation = incarnation
        for token, seconds in elapsed.items():
            if token in self.limits:  # not one that finished since the question was asked
                deadline = now - seconds + self.limits[token]
                self.at[token] = max(self.at.get(token, deadline), deadline)
        if restarted:
            self.lost(now)
        return restarted

    def lost(self, now: float) -> None:
        """The clock forgot its starts: the running batches not yet seen to start are
        assumed to have started at ``now`` (they get at most a little extra time)."""
        for token, limit in self.limits.items():
            self.at.setdefault(token, now + limit)

    def overdue(self, now: float) -> int | None:
        """A running batch past its deadline (None: none)."""
        return next((t for t, deadline in self.at.items() if now > deadline), None)


class Clock:
    """A :class:`StartClock` actor and what the driver knows of it: the executor keeps one
    across its streams, so a restart seen by one stream is not seen again by the next, and
    the warning is said once. Its incarnation is read when it is made, so that a restart
    before the first poll is noticed too."""

    def __init__(self, ray: Any) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                              soft=True)
        self.actor = ray.remote(StartClock).options(
            num_cpus=0, scheduling_strategy=here, max_restarts=-1,
            max_task_retries=-1).remote()
        self.incarnation: int = ray.get(self.actor.born.remote())
        self.warned = False

    def warn_lost(self) -> None:
        if not self.warned:
            print(LOST_WARNING, file=sys.stderr)
            self.warned = True


class Timer:
    """One stream's time limits: registers its batches, polls the clock without ever
    stopping the search for it, and says which batch is over its limit."""

    def __init__(self, ray: Any, clock: Clock) -> None:
        self.ray, self.clock = ray, clock
        self.deadlines = Deadlines(clock.incarnation)
        self.asked: Any = None  # the question put to the clock, until it is answered

    def add(self, token: int, limit: float) -> None:
        self.deadlines.add(token, limit)

    def drop(self, token: int) -> None:
        self.deadlines.drop(token)
        self.clock.actor.forget.remote([token])

    def overdue(self) -> int | None:
        """A running batch past its limit (None: none), timed from its own start."""
        self._poll()
        return self.deadlines.overdue(time.monotonic())

    def _poll(self) -> None:
        """Ask the clock how long the running batches have run, and take its answer. While
        the actor is being restarted the answer waits (a later poll picks it up); the
        deadlines already known are enforced meanwhile."""
        from ray.exceptions import RayActorError

        if self.asked is None:
            self.asked = self.clock.actor.elapsed.remote(self.deadlines.running())
        ready, _ = self.ray.wait([self.asked], timeout=ANSWER_WAIT_S)
        if not ready:
            return
        asked, self.asked = self.asked, None
        try:
            incarnation, elapsed = self.ray.get(asked)
        except RayActorError:  # gone for good, or a restart Ray did not wait for
            self.deadlines.lost(time.monotonic())
            self.clock.warn_lost()
            return
        if self.deadlines.observe(elapsed, incarnation, time.monotonic()):
            self.clock.warn_lost()
        self.clock.incarnation = incarnation


def reporting_start(fn: Callable[..., Any], actor: Any) -> Callable[..., Any]:
    """``fn`` as a task that first tells the clock ``actor`` it started (a message, not
    awaited). Not functools.wraps: the wrapper would then be pickled by ``fn``'s name."""
    def run(token: int, *args: Any) -> Any:
        actor.started.remote(token)
        return fn(*args)
    return run
