"""Check oculi's answers, as sent on the wire, against botocore's output shapes (every
constraint the service model states: required members, enums, patterns, ranges)."""

from __future__ import annotations

import json
from typing import Any

from oculi.api import spec


class WireAnswers:
    """Keeps the JSON body of every answer a boto3 client receives, by operation name."""

    def __init__(self, client: Any) -> None:
        self.bodies: dict[str, list[dict[str, Any]]] = {}
        client.meta.events.register("after-call.rekognition.*", self._keep)

    def _keep(self, http_response: Any, model: Any, **_: Any) -> None:
        if http_response.status_code == 200:
            self.bodies.setdefault(model.name, []).append(json.loads(http_response.content))

    def check(self) -> list[str]:
        """Validate every answer kept; returns the operations checked."""
        for name, bodies in self.bodies.items():
            op = spec.operation(name)
            assert op is not None and op.output_shape is not None, name
            for body in bodies:
                spec.validate(op.output_shape, body)
        return sorted(self.bodies)
