{{/* kiln.rbacRules are the API permissions the operator uses, the same in the ClusterRole and in each per-namespace Role. tests/helm/test_rbac.py checks them against the requests the operator makes. */}}
{{- define "kiln.rbacRules" -}}
# Watch ModelServices, keep kopf's finalizer and progress annotations on them, write status.
- apiGroups: ["kiln.dev"]
  resources: ["modelservices"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kiln.dev"]
  resources: ["modelservices/status"]
  verbs: ["patch"]
# The children of each ModelService: read, create when missing, patch when they drift.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "create", "patch", "delete"]
# The job store's volume claim is created once and never changed.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "create"]
# Observed time to ready comes from the pods' start and Ready times.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# kopf and the operator post an event for each decision.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
