{{- define "wardwatch.name" -}}wardwatch-operator{{- end -}}

{{- define "wardwatch.labels" -}}
app.kubernetes.io/name: {{ include "wardwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: wardwatch
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "wardwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wardwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Cluster-scoped names carry the release namespace so two installs never collide. */}}
{{- define "wardwatch.clusterName" -}}{{ include "wardwatch.name" . }}-{{ .Release.Namespace }}{{- end -}}
