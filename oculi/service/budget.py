"""Per-call budgets for the expensive native calls: time, checked between stages, and the
number of text regions the plate reader reads."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from oculi.errors import InvalidParameter

# A street photo holds tens of text regions; a page of print holds up to a thousand (the
# detector's cap), each read by the recogniser (about 8 s per 100 regions on one busy core
# here): plates are not looked for in an image with more than this many.
MAX_PLATE_REGIONS = 200


@dataclass
class Budget:
    """What one call may spend. `check` is cooperative: a stage that has started runs to
    its end, the next one is not started past the deadline."""

    seconds: float = math.inf
    max_regions: int | None = None
    started: float = field(default_factory=time.monotonic)

    def check(self, stage: str) -> None:
        """InvalidParameterException when the call has run past its time budget."""
        if time.monotonic() - self.started > self.seconds:
            raise InvalidParameter(
                f"the call ran past its {self.seconds:g} s budget (OCULI_NATIVE_BUDGET_S) "
                f"before {stage}: send a smaller image"
            )

    def check_regions(self, found: int) -> None:
        """InvalidParameterException when an image holds more text regions than plate
        reading reads."""
        if self.max_regions is not None and found > self.max_regions:
            raise InvalidParameter(
                f"the image holds {found} text regions; plates are read in at most "
                f"{self.max_regions} (a page of text, not a street scene?)"
            )
