"""Which RBAC objects the chart renders: cluster-wide, per watched namespace, or none."""

from __future__ import annotations

import helm_python
import pytest
from chart_manifests import (
    RELEASE_NAMESPACE,
    ci_values,
    objects_of_kind,
    only_object,
    render_objects,
)


def test_all_namespaces_cluster_role(chart: helm_python.Chart) -> None:
    objects = render_objects(chart)
    role = only_object(objects, "ClusterRole")
    binding = only_object(objects, "ClusterRoleBinding")

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert objects_of_kind(objects, "Role") == []
    assert objects_of_kind(objects, "RoleBinding") == []


def test_watch_namespaces_role_each(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, ci_values("watch-namespaces-values.yaml"))
    roles = objects_of_kind(objects, "Role")
    bindings = objects_of_kind(objects, "RoleBinding")

    assert [role["metadata"]["namespace"] for role in roles] == ["team-a", "team-b"]
    assert [binding["metadata"]["namespace"] for binding in bindings] == ["team-a", "team-b"]
    assert objects_of_kind(objects, "ClusterRole") == []
    assert objects_of_kind(objects, "ClusterRoleBinding") == []


def test_role_binding_refers_own_role(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, ci_values("watch-namespaces-values.yaml"))
    roles = {role["metadata"]["namespace"]: role for role in objects_of_kind(objects, "Role")}

    for binding in objects_of_kind(objects, "RoleBinding"):
        role = roles[binding["metadata"]["namespace"]]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }


def test_bindings_name_operator_account(chart: helm_python.Chart) -> None:
    for values in ({}, ci_values("watch-namespaces-values.yaml")):
        objects = render_objects(chart, values)
        account = only_object(objects, "ServiceAccount")["metadata"]
        expected = [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": RELEASE_NAMESPACE}
        ]
        bindings = objects_of_kind(objects, "ClusterRoleBinding") + objects_of_kind(
            objects, "RoleBinding"
        )

        assert bindings
        for binding in bindings:
            assert binding["subjects"] == expected


def test_rbac_create_false_renders_none(chart: helm_python.Chart) -> None:
    for values in ({}, ci_values("watch-namespaces-values.yaml")):
        objects = render_objects(chart, {**values, "rbac": {"create": False}})
        kinds = {item["kind"] for item in objects}

        assert kinds.isdisjoint({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})


def test_existing_account_requires_name(chart: helm_python.Chart) -> None:
    values = {"serviceAccount": {"create": False}}

    with pytest.raises(helm_python.HelmRenderError) as raised:
        render_objects(chart, values)

    assert "serviceAccount.name is required when serviceAccount.create is false" in str(
        raised.value
    )


def test_existing_account_bound(chart: helm_python.Chart) -> None:
    objects = render_objects(chart, {"serviceAccount": {"create": False, "name": "platform-ops"}})
    binding = only_object(objects, "ClusterRoleBinding")
    pod = only_object(objects, "Deployment")["spec"]["template"]

    assert objects_of_kind(objects, "ServiceAccount") == []
    assert binding["subjects"][0]["name"] == "platform-ops"
    assert pod["spec"]["serviceAccountName"] == "platform-ops"
