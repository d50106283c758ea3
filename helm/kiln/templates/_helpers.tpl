{{/* kiln.name is the chart name, or nameOverride, cut to the 63 characters of a label value. */}}
{{- define "kiln.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* kiln.fullname prefixes object names: "<release>-<chart>", or the release name alone when it already contains the chart name. */}}
{{- define "kiln.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* kiln.chart is the chart name and version for the helm.sh/chart label. */}}
{{- define "kiln.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* kiln.selectorLabels select the operator pod; they never change after install. */}}
{{- define "kiln.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* kiln.labels are the recommended app.kubernetes.io labels of every object the chart creates. */}}
{{- define "kiln.labels" -}}
helm.sh/chart: {{ include "kiln.chart" . }}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kiln
{{- end -}}

{{/* kiln.operatorLabels are kiln.labels plus the component label of the operator's objects. */}}
{{- define "kiln.operatorLabels" -}}
{{ include "kiln.labels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* kiln.serviceAccountName is the operator's ServiceAccount, created by the chart or not. */}}
{{- define "kiln.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kiln.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount the operator should use." .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* kiln.image is the operator image reference, pinned by digest or by a tag that defaults to appVersion. */}}
{{- define "kiln.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* kiln.exampleNamespace is where NOTES.txt applies the example ModelService: the first watched namespace, else the release namespace. */}}
{{- define "kiln.exampleNamespace" -}}
{{- if .Values.watchNamespaces -}}
{{- first .Values.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}
