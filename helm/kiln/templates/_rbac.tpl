{{/* kiln.rbacRules are the API permissions the operator uses, the same in the ClusterRole and in each per-namespace Role. tests/helm compares them with the requests the operator makes in its end-to-end tests. */}}
{{- define "kiln.rbacRules" -}}
# Watch ModelServices, keep kopf's finalizer and progress annotations on them, write their status.
- apiGroups: ["kiln.dev"]
  resources: ["modelservices"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kiln.dev"]
  resources: ["modelservices/status"]
  verbs: ["patch"]
# The children of each ModelService.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "create", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "create", "patch", "delete"]
# Observed time to ready comes from the pods' start and Ready times.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# kopf and the operator post an event for each decision.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
