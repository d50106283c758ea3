"""Object storage with the metadata and change history the API server maintains.

The objects live in kmock's ``ObjectsArray`` (so tests can still read every past version of an
object through ``emulator.objects[resource, namespace, name].history``), but unlike kmock 0.8
every write here:

- stamps ``uid``, ``creationTimestamp``, ``generation`` and a cluster-wide increasing
  ``resourceVersion``, as the API server does;
- raises ``generation`` only when something outside ``metadata`` and ``status`` changed;
- turns a write that changes nothing into a no-op (same ``resourceVersion``, no watch event);
- appends a watch event numbered by its ``resourceVersion``, so a watch that passes
  ``?resourceVersion=N`` resumes after event N instead of replaying every object.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from kmock import ObjectsArray, resource

ObjectKey = tuple[resource, str | None, str]


@dataclass(frozen=True)
class WatchEvent:
    """A change of one object, numbered by the resourceVersion it produced."""

    resource_version: int
    type: str  # ADDED, MODIFIED or DELETED
    obj: dict[str, Any]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


class ObjectStore:
    """All objects of the emulator plus the ordered change events of every resource."""

    def __init__(self, objects: ObjectsArray) -> None:
        self.objects = objects
        self.resource_version = 0
        self.events: dict[resource, list[WatchEvent]] = {}
        self.changed = asyncio.Condition()

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        if key not in self.objects:
            return None
        stored = self.objects[key]
        return None if stored.deleted else copy.deepcopy(stored.raw)

    def list(self, res: resource, namespace: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for (stored_resource, stored_namespace, _), stored in self.objects.items():
            if stored_resource != res or stored.deleted:
                continue
            if namespace is not None and stored_namespace != namespace:
                continue
            items.append(copy.deepcopy(stored.raw))
        return items

    def create(self, key: ObjectKey, obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj.setdefault("metadata", {})
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        metadata["generation"] = 1
        if key[1] is not None:
            metadata["namespace"] = key[1]
        self._stamp(obj)
        if key in self.objects:
            self.objects[key].history.append(obj)
        else:
            self.objects[key] = obj
        self._record(key[0], "ADDED", obj)
        return copy.deepcopy(obj)

    def replace(self, key: ObjectKey, new: dict[str, Any]) -> dict[str, Any]:
        """Store ``new`` as the next version unless it equals the current one."""
        old = self.get(key)
        assert old is not None, "replace() is only called for existing objects"
        new_metadata = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "namespace", "name"):
            if field in old["metadata"]:
                new_metadata[field] = old["metadata"][field]
        new_metadata["generation"] = old["metadata"].get("generation", 1)
        new_metadata["resourceVersion"] = old["metadata"].get("resourceVersion")
        if new == old:
            return old
        if _without_bookkeeping(new) != _without_bookkeeping(old):
            new_metadata["generation"] += 1
        self._stamp(new)
        self.objects[key].history.append(new)
        self._record(key[0], "MODIFIED", new)
        return copy.deepcopy(new)

    def delete(self, key: ObjectKey) -> dict[str, Any]:
        obj = self.get(key)
        assert obj is not None, "delete() is only called for existing objects"
        self.objects[key].delete()
        self._stamp(obj)
        self._record(key[0], "DELETED", obj)
        return obj

    def _stamp(self, obj: dict[str, Any]) -> None:
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)

    def _record(self, res: resource, event_type: str, obj: dict[str, Any]) -> None:
        event = WatchEvent(self.resource_version, event_type, copy.deepcopy(obj))
        self.events.setdefault(res, []).append(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()
