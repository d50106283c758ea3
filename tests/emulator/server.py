"""``ApiEmulator``: kmock's Kubernetes emulator with the API semantics an operator relies on.

kmock 0.8's ``KubernetesEmulator`` serves discovery and stores objects, and this class keeps
both (discovery responses, the ``objects`` history for assertions, the aiohttp server). It
replaces the object endpoints to close the gaps seen with kmock 0.8, each tested in
``tests/emulator``:

- metadata the API server owns (``uid``, ``resourceVersion``, ``generation``,
  ``creationTimestamp``), optimistic concurrency (409 on a stale ``resourceVersion``),
  and ``PUT``, which kmock does not route;
- merge, strategic merge and JSON patches, with 422 for a failed JSON-patch ``test``;
- ``status`` and ``scale`` subresources that write only their own part of the object;
- lists with ``kind`` and a ``resourceVersion``, label and field selectors,
  watches that resume from ``?resourceVersion=`` and end after ``timeoutSeconds``;
- CRDs posted to ``apiextensions.k8s.io`` become served resources with schema admission,
  CEL rules, and the Table that ``kubectl get`` prints. Unknown fields are always rejected,
  where the API server prunes them unless ``fieldValidation=Strict``: a test then fails
  when a client writes a field its CRD lacks, instead of losing it silently;
- finalizers delay a deletion until they are removed;
- optional strict validation of built-in kinds with ``kubernetes-validate``;
- bearer-token identities, a log of every request (``request_log``) and injected faults.

Not emulated: garbage collection, controllers (nothing creates pods or fills in a
Deployment's status), namespaces as objects, admission webhooks, server-side apply.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gzip
import importlib.resources
import secrets
from typing import Any, cast

import aiohttp.web
import attrs
from kmock import KubernetesEmulator, RawHandler, ResourceInfo, resource

from . import admission, crds, patches, responses, selectors
from .faults import Fault
from .request_log import ApiRequest, rbac_verb
from .responses import ApiError, json_response
from .storage import ObjectKey, ObjectStore, now_rfc3339
from .validation import validate_builtin
from .watching import serve_watch


@functools.cache
def _bundled_discovery() -> str:
    """Return the built-in resources kmock ships (from a K3s cluster), read once."""
    packed = importlib.resources.files("kmock._internal").joinpath("resources.json.gz")
    return gzip.decompress(packed.read_bytes()).decode("utf-8")


CRD_RESOURCE = resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_PROTECTED_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name")


@attrs.define(kw_only=True)
class ApiEmulator(KubernetesEmulator):
    """A Kubernetes API emulator for operator tests, described in the module docstring."""

    tokens: dict[str, str] = attrs.field(factory=dict)
    validate_versions: tuple[str, ...] = ()
    request_log: list[ApiRequest] = attrs.field(factory=list, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    _store: ObjectStore | None = attrs.field(default=None, init=False)
    _custom: dict[resource, crds.CustomResource] = attrs.field(factory=dict, init=False)
    _closing: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._store = ObjectStore(self._objects)
        self._resources.load_data(_bundled_discovery())

    @property
    def store(self) -> ObjectStore:
        assert self._store is not None
        return self._store

    def register_crd(self, crd: dict[str, Any]) -> None:
        """Serve the resources a CRD defines, as the API server does once it is established."""
        for custom in crds.custom_resources_from_crd(crd):
            self._custom[custom.resource] = custom
            self._resources[custom.resource] = custom.info

    async def close_watches(self) -> None:
        """End every open watch stream so that the HTTP server can stop at once."""
        self._closing = True
        async with self.store.changed:
            self.store.changed.notify_all()

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        res: resource | None = request.resource
        record = self._describe(request)
        # Logged before serving, so that an open watch shows up while it streams.
        index = len(self.request_log)
        self.request_log.append(record)
        try:
            self._authenticate(request)
            if res is None or res.plural is None:
                response = await self._serve_non_resource(request)
            else:
                response = await self._serve_resource(request, record)
        except ApiError as error:
            response = responses.error_response(error)
        self.request_log[index] = dataclasses.replace(record, status=response.status)
        return response

    def _describe(self, request: Any) -> ApiRequest:
        res: resource | None = request.resource
        method = request.method.value
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        user = self.tokens.get(token, "anonymous" if not token else "unknown")
        if res is None or res.plural is None:
            verb, group, version, plural = method.lower(), "", "", ""
        else:
            is_watch = request.params.get("watch") in ("true", "1")
            verb = rbac_verb(method, has_name=request.name is not None, is_watch=is_watch)
            group, version, plural = res.group or "", res.version or "", res.plural
        return ApiRequest(
            verb=verb,
            api_group=group,
            version=version,
            resource=plural,
            subresource=request.subresource or "",
            namespace=request.namespace,
            name=request.name,
            path=request.url.path,
            user=user,
            user_agent=request.headers.get("User-Agent", ""),
            status=0,
        )

    def _authenticate(self, request: Any) -> None:
        # NB: kubectl sends no bearer token over plain HTTP, so a request without a token is
        # served as "anonymous". Only a token the emulator does not know is rejected.
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token and token not in self.tokens:
            raise ApiError(401, "Unauthorized: the bearer token is unknown to the emulator.")

    async def _serve_non_resource(self, request: Any) -> aiohttp.web.StreamResponse:
        path = request.url.path.rstrip("/")
        if path.startswith("/openapi/"):
            # NB: kubectl requests OpenAPI v2 as protobuf, which the emulator cannot produce.
            # Without a document, kubectl needs --validate=false and uses JSON merge patches.
            raise ApiError(404, f"The emulator serves no OpenAPI document at {path!r}.")
        if path == "/version":
            return json_response(responses.SERVER_VERSION)
        return await RawHandler._handle(self, request)

    async def _serve_version(self, request: Any) -> dict[str, Any]:
        """Serve an APIResourceList with the core group's version as "v1", and whose
        subresources carry no short names or categories.

        kmock 0.8 copies a resource's short names and categories onto its subresources, so
        ``kubectl get ms`` warns about ambiguity and ``kubectl get kiln`` requests the
        ``modelservices/scale`` resource.
        """
        document = cast(dict[str, Any], await super()._serve_version(request))
        # kmock joins the empty core group with "/", so /api/v1 would list "/v1", and
        # client-go (Helm, kubectl) then finds no core kinds.
        if document.get("groupVersion", "").startswith("/"):
            document["groupVersion"] = document["groupVersion"][1:]
        for entry in document.get("resources", []):
            if "/" not in entry["name"]:
                continue
            entry["shortNames"] = []
            entry["categories"] = []
            entry["verbs"] = ["get", "patch", "update"]
            if entry["name"].endswith("/scale"):
                entry["kind"] = "Scale"
                entry["group"] = "autoscaling"
                entry["version"] = "v1"
        return document

    def _info(self, res: resource) -> ResourceInfo:
        if res not in self._resources:
            raise ApiError(404, "the server could not find the requested resource")
        return self._resources[res]

    async def _serve_resource(self, request: Any, record: ApiRequest) -> aiohttp.web.StreamResponse:
        res: resource = request.resource
        info = self._info(res)
        for fault in self.faults:
            if fault.matches(record):
                fault.times -= 1
                raise ApiError(fault.status, fault.message)
        if request.namespace is not None and info.namespaced is False:
            raise ApiError(404, f"{res.plural} is cluster-scoped and has no namespaces.")
        verb = record.verb
        if verb == "watch":
            return await self._watch(request, info)
        if verb == "list":
            return self._list(request, info)
        if verb == "create":
            return json_response(self._create(request, info), status=201)
        key: ObjectKey = (res, request.namespace, request.name)
        if verb == "get":
            return json_response(self._get(key, request.subresource or "", info))
        if verb in ("update", "patch"):
            return json_response(self._update(key, request, info))
        if verb == "delete":
            return json_response(self._delete(key, info))
        raise ApiError(405, f"The emulator does not serve {verb!r} on {res.plural}.")

    def _group_version(self, res: resource) -> str:
        return (res.version or "") if not res.group else f"{res.group}/{res.version}"

    def _get(self, key: ObjectKey, subresource: str, info: ResourceInfo) -> dict[str, Any]:
        obj = self.store.get(key)
        if obj is None:
            raise responses.not_found(key[0].plural or "", key[2])
        if subresource == "scale":
            return crds.scale_view(obj, self._scale_paths(key[0]))
        return obj

    def _list(self, request: Any, info: ResourceInfo) -> aiohttp.web.Response:
        res: resource = request.resource
        items = [obj for obj in self.store.list(res, request.namespace)
                 if self._selected(obj, request.params)]
        if "as=Table" in request.headers.get("Accept", "") and res in self._custom:
            return json_response(crds.printer_table(self._custom[res], items))
        return json_response({
            "apiVersion": self._group_version(res),
            "kind": f"{info.kind}List",
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": items,
        })

    def _selected(self, obj: dict[str, Any], params: Any) -> bool:
        try:
            if "labelSelector" in params:
                labels = obj.get("metadata", {}).get("labels", {})
                if not selectors.parse_label_selector(params["labelSelector"])(labels):
                    return False
            if "fieldSelector" in params:
                return selectors.parse_field_selector(params["fieldSelector"])(obj)
        except selectors.SelectorError as error:
            raise ApiError(400, str(error)) from error
        return True

    def _create(self, request: Any, info: ResourceInfo) -> dict[str, Any]:
        res: resource = request.resource
        obj = request.data
        if not isinstance(obj, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", self._group_version(res))
        obj.setdefault("kind", info.kind)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)
        name = metadata.get("name")
        if not name:
            raise responses.invalid(info.kind or "", "", ["metadata.name: Required value"])
        if metadata.get("resourceVersion"):
            raise responses.invalid(info.kind or "", name, [
                "metadata.resourceVersion: Invalid value: "
                "resourceVersion should not be set on objects to be created"])
        namespace = request.namespace if info.namespaced else None
        if info.namespaced and metadata.get("namespace") not in (None, namespace):
            raise ApiError(400, "the namespace of the provided object does not match "
                                "the namespace sent on the request")
        key: ObjectKey = (res, namespace, name)
        if self.store.get(key) is not None:
            raise ApiError(409, f"{res.plural} {name!r} already exists", reason="AlreadyExists")
        if "status" in info.subresources:
            obj.pop("status", None)
        for field in ("deletionTimestamp", "uid", "generation", "creationTimestamp"):
            metadata.pop(field, None)
        obj = self._admit(res, info, obj)
        if request.params.get("dryRun"):
            return obj
        created = self.store.create(key, obj)
        if res == CRD_RESOURCE:
            self.register_crd(created)
        return created

    def _update(self, key: ObjectKey, request: Any, info: ResourceInfo) -> dict[str, Any]:
        res = key[0]
        old = self.store.get(key)
        if old is None:
            raise responses.not_found(res.plural or "", key[2])
        subresource = request.subresource or ""
        body = request.data
        if subresource == "scale":
            new = self._scaled(old, request, res)
        else:
            if request.method.value == "PUT":
                if not isinstance(body, dict):
                    raise ApiError(400, "The request body must be a JSON object.")
                patched = copy.deepcopy(body)
            else:
                patched = self._patched(old, body, request.headers.get("Content-Type", ""))
            sent_version = (body.get("metadata", {}).get("resourceVersion")
                            if isinstance(body, dict) else None)
            if sent_version and sent_version != old["metadata"].get("resourceVersion"):
                raise responses.conflict(res.plural or "", key[2])
            new = self._confine(old, patched, subresource, info)
        for field in _PROTECTED_METADATA:
            if field in old["metadata"]:
                new.setdefault("metadata", {})[field] = old["metadata"][field]
            else:
                new.get("metadata", {}).pop(field, None)
        new = self._admit(res, info, new)
        if request.params.get("dryRun"):
            return new
        if old["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self.store.delete(key)
            return new
        stored = self.store.replace(key, new)
        if res == CRD_RESOURCE:
            self.register_crd(stored)
        if subresource == "scale":
            return crds.scale_view(stored, self._scale_paths(res))
        return stored

    def _patched(self, old: dict[str, Any], body: Any, content_type: str) -> dict[str, Any]:
        try:
            return patches.apply_patch(old, body, content_type)
        except patches.PatchError as error:
            raise ApiError(422, str(error)) from error
        except patches.UnsupportedPatchType as error:
            raise ApiError(415, str(error)) from error

    def _confine(
        self, old: dict[str, Any], new: dict[str, Any], subresource: str, info: ResourceInfo
    ) -> dict[str, Any]:
        """Keep only the part of a write that its endpoint may change."""
        if subresource == "status":
            confined = copy.deepcopy(old)
            if "status" in new:
                confined["status"] = new["status"]
            else:
                confined.pop("status", None)
            return confined
        if "status" in info.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    def _scale_paths(self, res: resource) -> crds.ScalePaths:
        custom = self._custom.get(res)
        if custom is not None and custom.scale is not None:
            return custom.scale
        if res == resource("apps", "v1", "deployments"):
            return crds.ScalePaths(".spec.replicas", ".status.replicas", None)
        raise ApiError(404, f"{res.plural} has no scale subresource.")

    def _scaled(self, old: dict[str, Any], request: Any, res: resource) -> dict[str, Any]:
        paths = self._scale_paths(res)
        view = crds.scale_view(old, paths)
        if request.method.value == "PUT":
            scaled = request.data if isinstance(request.data, dict) else {}
        else:
            scaled = self._patched(view, request.data, request.headers.get("Content-Type", ""))
        replicas = scaled.get("spec", {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, f"Scale.spec.replicas: Invalid value: {replicas!r}: "
                                "must be a non-negative integer")
        new = copy.deepcopy(old)
        crds.write_path(new, paths.spec_replicas, replicas)
        return new

    def _delete(self, key: ObjectKey, info: ResourceInfo) -> dict[str, Any]:
        old = self.store.get(key)
        if old is None:
            raise responses.not_found(key[0].plural or "", key[2])
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old
            marked = copy.deepcopy(old)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            return self.store.replace(key, marked)
        return self.store.delete(key)

    def _admit(self, res: resource, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj.get("metadata", {}).get("name", "")
        custom = self._custom.get(res)
        if custom is not None and custom.schema:
            result = admission.admit(obj, custom.schema)
            causes = list(result.errors)
            causes += [f"{path}: unknown field" for path in result.unknown_fields]
            if causes:
                raise responses.invalid(f"{info.kind}.{res.group}", name, causes)
            return result.obj
        if custom is None and self.validate_versions:
            causes = validate_builtin(obj, self.validate_versions)
            if causes:
                raise responses.invalid(info.kind or "", name, causes)
        return obj

    async def _watch(self, request: Any, info: ResourceInfo) -> aiohttp.web.StreamResponse:
        def wanted(obj: dict[str, Any]) -> bool:
            metadata = obj.get("metadata", {})
            if request.namespace is not None and metadata.get("namespace") != request.namespace:
                return False
            if request.name is not None and metadata.get("name") != request.name:
                return False
            return self._selected(obj, request.params)

        return await serve_watch(request, self.store, wanted, lambda: self._closing)
