{{/* Chart name, truncated to a DNS label. */}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: <release>-<chart>, or the release name when it contains the chart's. */}}
{{- define "ferry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ferry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels (https://helm.sh/docs/chart_best_practices/labels/). */}}
{{- define "ferry.labels" -}}
helm.sh/chart: {{ include "ferry.chart" . }}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferry
{{- end }}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector of one component: (dict "ctx" $ "component" "operator"). */}}
{{- define "ferry.componentLabels" -}}
{{ include "ferry.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ferry.componentSelectorLabels" -}}
{{ include "ferry.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ferry.operatorName" -}}
{{- printf "%s-operator" (include "ferry.fullname" .) }}
{{- end }}

{{- define "ferry.natsName" -}}
{{- printf "%s-nats" (include "ferry.fullname" .) }}
{{- end }}

{{- define "ferry.etcdName" -}}
{{- printf "%s-etcd" (include "ferry.fullname" .) }}
{{- end }}

{{- define "ferry.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "ferry.operatorName" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ferry.workerServiceAccountName" -}}
{{- default (printf "%s-worker" (include "ferry.fullname" .)) .Values.workers.serviceAccount.name }}
{{- end }}

{{/* Namespaces the worker ServiceAccount is created in, as a list. */}}
{{- define "ferry.workerServiceAccountNamespaces" -}}
{{- $namespaces := .Values.workers.serviceAccount.namespaces }}
{{- if not $namespaces }}
{{- $namespaces = list (default .Release.Namespace .Values.operator.watchNamespace) }}
{{- end }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{- define "ferry.leaseName" -}}
{{- default (printf "%s-leader" (include "ferry.fullname" .)) .Values.operator.leaderElection.leaseName }}
{{- end }}

{{- define "ferry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "ferry.workerImage" -}}
{{- printf "%s:%s" (default .Values.image.repository .Values.workers.image.repository) (default (default .Chart.AppVersion .Values.image.tag) .Values.workers.image.tag) }}
{{- end }}

{{/* Pod DNS name of a bundled StatefulSet member: (dict "ctx" $ "name" "<sts>" "index" 0). */}}
{{- define "ferry.podAddress" -}}
{{- printf "%s-%d.%s-headless.%s.svc.%s" .name (int .index) .name .ctx.Release.Namespace .ctx.Values.clusterDomain }}
{{- end }}

{{/* FERRY_NATS_URL. */}}
{{- define "ferry.natsUrl" -}}
{{- if eq .Values.nats.mode "bundled" }}
{{- printf "nats://%s.%s.svc.%s:4222" (include "ferry.natsName" .) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- required "nats.external.url is required when nats.mode is external" .Values.nats.external.url }}
{{- end }}
{{- end }}

{{/* FERRY_ETCD_ENDPOINTS: every member's client URL. */}}
{{- define "ferry.etcdEndpoints" -}}
{{- if eq .Values.etcd.mode "bundled" }}
{{- $name := include "ferry.etcdName" . }}
{{- $urls := list }}
{{- range $i := until (int .Values.etcd.bundled.replicas) }}
{{- $urls = append $urls (printf "http://%s:2379" (include "ferry.podAddress" (dict "ctx" $ "name" $name "index" $i))) }}
{{- end }}
{{- join "," $urls }}
{{- else }}
{{- if not .Values.etcd.external.endpoints }}
{{- fail "etcd.external.endpoints is required when etcd.mode is external" }}
{{- end }}
{{- join "," .Values.etcd.external.endpoints }}
{{- end }}
{{- end }}

{{/* A preferred anti-affinity spreading a component's pods across nodes. */}}
{{- define "ferry.spreadAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "ferry.componentSelectorLabels" . | nindent 12 }}
{{- end }}

{{/* The restrictive container securityContext every container of the chart runs with. */}}
{{- define "ferry.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ferry.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}
