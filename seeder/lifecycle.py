"""One lifecycle for every long-lived part of the daemon (chihaya's stop.Group, uvicorn's
shutdown): parts are started in an explicit order, each registered once it is running; a
reload hands each, in that order, the old and the validated new config; a stop runs them in
reverse, each by a shared deadline, and collects what failed instead of stopping at it.

Every reload and stop runs on the daemon's loop; a step that blocks (joining a thread, closing
libtorrent's session) is given as `blocking=True` and runs in a thread, so the loop and the
deadline go on.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
import typing
from dataclasses import dataclass

log = logging.getLogger("torrentweb.daemon")


def _nothing(*_):
    return None


@dataclass(frozen=True)
class Part:
    name: str
    stop: typing.Callable[[], typing.Any] = _nothing               # may be a coroutine function
    reload: typing.Callable[[typing.Any, typing.Any], typing.Any] = _nothing   # (old, new) config
    blocking: bool = False                                         # stop() runs in a thread


class Parts:
    def __init__(self):
        self._parts: list[Part] = []

    def started(self, part: Part) -> None:
        self._parts.append(part)

    def names(self) -> list[str]:
        return [p.name for p in self._parts]

    async def reload(self, old, new) -> None:
        """Each part takes the new config; one that fails is logged, the others go on."""
        for part in list(self._parts):          # a reload may start a part (it is appended)
            try:
                result = part.reload(old, new)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("reloading %s failed; it keeps its old settings", part.name)

    async def stop(self, deadline: float) -> list[str]:
        """Reverse order; returns what failed or did not stop by the deadline (time.monotonic)."""
        errors = []
        while self._parts:
            part = self._parts.pop()
            left = max(0.1, deadline - time.monotonic())
            try:
                if part.blocking:
                    await asyncio.wait_for(asyncio.to_thread(part.stop), left)
                else:
                    result = part.stop()
                    if inspect.isawaitable(result):
                        await asyncio.wait_for(result, left)
            except asyncio.TimeoutError:
                errors.append(f"{part.name}: not stopped by the deadline")
            except Exception as e:       # keep stopping the rest; report at the end
                errors.append(f"{part.name}: {e}")
        return errors
