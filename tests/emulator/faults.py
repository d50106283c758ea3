"""Errors injected into the emulator's responses to exercise a client's retries."""

from __future__ import annotations

import dataclasses

from .request_log import ApiRequest


@dataclasses.dataclass
class Fault:
    """An error to return instead of serving matching requests, ``times`` times."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str = ""
    status: int = 500
    times: int = 1
    message: str = "Injected fault."

    def matches(self, request: ApiRequest) -> bool:
        return (
            self.times > 0
            and self.verb == request.verb
            and self.resource == request.resource
            and self.subresource == request.subresource
            and self.namespace in (None, request.namespace)
            and self.name in (None, request.name)
        )
