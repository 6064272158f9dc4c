{{/* The bundled NATS server configuration. */}}
{{- define "ferry.natsConfig" -}}
{{- $name := include "ferry.natsName" . }}
{{- $v := .Values.nats.bundled -}}
# NATS with JetStream for Ferry's task and status streams. $POD_NAME comes
# from the pod's environment.
server_name: $POD_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
lame_duck_duration: 30s
lame_duck_grace_period: 10s
jetstream {
  store_dir: /data/jetstream
  max_file_store: {{ $v.jetstream.maxFileStore }}
  max_memory_store: {{ $v.jetstream.maxMemoryStore }}
}
{{- if gt (int $v.replicas) 1 }}
cluster {
  name: {{ $name }}
  listen: 0.0.0.0:6222
  routes: [
    {{- range $i := until (int $v.replicas) }}
    nats://{{ include "ferry.podAddress" (dict "ctx" $ "name" $name "index" $i) }}:6222
    {{- end }}
  ]
}
{{- end }}
{{- end }}
