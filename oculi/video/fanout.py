"""Several analyses over one decode of a video (`oculi video analyze --faces --people ...`):
each analysis runs in a thread of its own and reads the same frames, handed to it through a
queue a few frames deep, so the video is decoded once and the analyses share the cores."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from oculi.video.decode import READ_AHEAD, Frame

Consumer = Callable[[Iterator[Frame]], None]
_END = object()


def fan_out(
    frames: Iterable[Frame], consumers: Sequence[Consumer], depth: int = READ_AHEAD
) -> None:
    """Run every consumer on all of `frames`, in order, each in its own thread, at most
    `depth` frames behind the reader. A consumer that stops early, or fails, is no longer
    fed; once one fails, reading stops and the others get the end of the video; the first
    failure is raised once every consumer has stopped."""
    boxes: list[queue.Queue[object]] = [queue.Queue(maxsize=depth) for _ in consumers]
    stopped = [threading.Event() for _ in consumers]
    errors: list[BaseException] = []

    def run(k: int) -> None:
        def feed() -> Iterator[Frame]:
            while (item := boxes[k].get()) is not _END:
                yield item  # type: ignore[misc]

        try:
            consumers[k](feed())
        except BaseException as e:  # raised to the caller below
            errors.append(e)
        finally:
            stopped[k].set()

    def give(k: int, item: object) -> None:
        while not stopped[k].is_set():
            try:
                boxes[k].put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(len(consumers))]
    for t in threads:
        t.start()
    try:
        for frame in frames:
            if errors:
                break
            for k in range(len(consumers)):
                give(k, frame)
    finally:
        for k in range(len(consumers)):
            give(k, _END)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
