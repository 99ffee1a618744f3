{{/* The release's full name, at most 63 characters. */}}
{{- define "rustmq-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "rustmq-operator.labels" -}}
app.kubernetes.io/name: rustmq-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels selecting the operator's pods. */}}
{{- define "rustmq-operator.selector" -}}
app.kubernetes.io/name: rustmq-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rustmq-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rustmq-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
