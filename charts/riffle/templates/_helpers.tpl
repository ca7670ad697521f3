{{/* Names */}}
{{- define "riffle.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "riffle.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "riffle.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "riffle.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels: common, and the selector of one component ({ctx, component}). */}}
{{- define "riffle.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "riffle.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "riffle.selectorLabels" -}}
app.kubernetes.io/name: {{ include "riffle.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "riffle.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* A Kubernetes memory quantity (512Mi, 1Gi) as a Flink memory size (512m, 1g). */}}
{{- define "riffle.flinkMemory" -}}
{{- $m := toString . }}
{{- if regexMatch "^[0-9]+Gi$" $m }}{{ trimSuffix "Gi" $m }}g
{{- else if regexMatch "^[0-9]+Mi$" $m }}{{ trimSuffix "Mi" $m }}m
{{- else if regexMatch "^[0-9]+Ki$" $m }}{{ trimSuffix "Ki" $m }}k
{{- else }}{{ fail (printf "memory %q: use a whole number of Ki, Mi or Gi" $m) }}
{{- end }}
{{- end }}

{{/* A configuration value as config.yaml text: whole numbers without exponent, lists joined with ';'. */}}
{{- define "riffle.configValue" -}}
{{- $v := . }}
{{- if kindIs "float64" $v }}
{{- if eq $v (floor $v) }}{{ printf "%d" (int64 $v) | quote }}{{ else }}{{ toString $v | quote }}{{ end }}
{{- else if kindIs "slice" $v }}
{{- join ";" $v | quote }}
{{- else }}
{{- toString $v | quote }}
{{- end }}
{{- end }}

{{/* The checkpoint-storage keys the chart derives. */}}
{{- define "riffle.storageConfig" -}}
{{- $s := .Values.checkpointStorage }}
{{- $c := dict }}
{{- if eq $s.type "pvc" }}
{{- $root := printf "file://%s" (trimSuffix "/" $s.pvc.mountPath) }}
{{- $_ := set $c "execution.checkpointing.dir" (printf "%s/checkpoints" $root) }}
{{- $_ := set $c "execution.checkpointing.savepoint-dir" (printf "%s/savepoints" $root) }}
{{- $_ := set $c "execution.checkpointing.externalized-checkpoint-retention" "RETAIN_ON_CANCELLATION" }}
{{- else if eq $s.type "s3" }}
{{- if not $s.s3.bucket }}{{ fail "checkpointStorage.s3.bucket is required with checkpointStorage.type s3" }}{{ end }}
{{- $root := printf "s3://%s" $s.s3.bucket }}
{{- if $s.s3.prefix }}{{ $root = printf "%s/%s" $root (trimAll "/" $s.s3.prefix) }}{{ end }}
{{- $_ := set $c "execution.checkpointing.dir" (printf "%s/checkpoints" $root) }}
{{- $_ := set $c "execution.checkpointing.savepoint-dir" (printf "%s/savepoints" $root) }}
{{- $_ := set $c "execution.checkpointing.externalized-checkpoint-retention" "RETAIN_ON_CANCELLATION" }}
{{- if $s.s3.endpoint }}{{ $_ := set $c "s3.endpoint" $s.s3.endpoint }}{{ end }}
{{- if $s.s3.pathStyleAccess }}{{ $_ := set $c "s3.path.style.access" "true" }}{{ end }}
{{- end }}
{{- if .Values.highAvailability.enabled }}
{{- if eq $s.type "none" }}{{ fail "highAvailability.enabled needs checkpointStorage.type pvc or s3 (the HA data is kept there)" }}{{ end }}
{{- if eq .Values.mode "application" }}{{ fail "highAvailability.enabled is for mode session (an application cluster carries its job over through the job id and checkpoints)" }}{{ end }}
{{- $_ := set $c "high-availability.type" "kubernetes" }}
{{- $_ := set $c "high-availability.storageDir" (printf "%s/ha" (trimSuffix "/checkpoints" (get $c "execution.checkpointing.dir"))) }}
{{- $_ := set $c "kubernetes.cluster-id" (include "riffle.haClusterId" .) }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* kubernetes.cluster-id with high availability. */}}
{{- define "riffle.haClusterId" -}}
{{- default (include "riffle.fullname" .) .Values.highAvailability.clusterId }}
{{- end }}

{{/* The JobManagers' ServiceAccount: their own with high availability. */}}
{{- define "riffle.jobmanagerServiceAccountName" -}}
{{- if .Values.highAvailability.enabled }}
{{- include "riffle.fullname" . }}-jobmanager
{{- else }}
{{- include "riffle.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/* config.yaml: what the chart derives, overridden by riffleConfiguration. */}}
{{- define "riffle.configYaml" -}}
{{- $svc := printf "%s-jobmanager" (include "riffle.fullname" .) }}
{{- $derived := dict
    "jobmanager.rpc.address" $svc
    "jobmanager.rpc.port" .Values.ports.rpc
    "jobmanager.bind-host" "0.0.0.0"
    "rest.address" $svc
    "rest.port" .Values.ports.rest
    "rest.bind-address" "0.0.0.0"
    "taskmanager.bind-host" "0.0.0.0"
    "taskmanager.data.port" .Values.ports.data
    "jobmanager.memory.process.size" (include "riffle.flinkMemory" .Values.jobManager.resource.memory)
    "taskmanager.memory.process.size" (include "riffle.flinkMemory" .Values.taskManager.resource.memory)
    "metrics.reporter.prom.factory.class" "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    "metrics.reporter.prom.port" .Values.ports.metrics
}}
{{- $config := merge (deepCopy (default dict .Values.riffleConfiguration)) (fromYaml (include "riffle.storageConfig" .)) $derived }}
{{- range $key, $value := $config }}
{{ $key }}: {{ include "riffle.configValue" $value }}
{{- end }}
{{- end }}

{{/* Environment of both containers. */}}
{{- define "riffle.commonEnv" -}}
- name: RIFFLE_LOG
  value: {{ .Values.logLevel | quote }}
{{- $secret := .Values.checkpointStorage.s3.credentialsSecret }}
{{- if and (eq .Values.checkpointStorage.type "s3") $secret.name }}
- name: S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret.name }}
      key: {{ $secret.accessKeyKey }}
- name: S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret.name }}
      key: {{ $secret.secretKeyKey }}
# Kubernetes expands $(S3_ACCESS_KEY) when it starts the container; the pod spec holds the reference only.
- name: FLINK_PROPERTIES
  value: |
    s3.access-key: $(S3_ACCESS_KEY)
    s3.secret-key: $(S3_SECRET_KEY)
{{- end }}
{{- end }}

{{- define "riffle.stateVolumeMounts" -}}
{{- if eq .Values.checkpointStorage.type "pvc" }}
- name: state
  mountPath: {{ .Values.checkpointStorage.pvc.mountPath }}
{{- end }}
{{- end }}

{{- define "riffle.stateVolumes" -}}
{{- $p := .Values.checkpointStorage.pvc }}
{{- if eq .Values.checkpointStorage.type "pvc" }}
{{- if and (not $p.claimName) (not $p.create) }}{{ fail "checkpointStorage.pvc: set claimName (an existing claim) or create: true" }}{{ end }}
- name: state
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-state" (include "riffle.fullname" .)) $p.claimName }}
{{- end }}
{{- end }}

{{/* Container ports: only the fixed ones (0 = any free port). */}}
{{- define "riffle.containerPort" -}}
{{- if and .port (ne (toString .port) "0") }}
- name: {{ .name }}
  containerPort: {{ .port }}
  protocol: TCP
{{- end }}
{{- end }}

{{/* Pod annotations: the config checksum (a changed configuration rolls the pods) and Prometheus'. */}}
{{- define "riffle.podAnnotations" -}}
checksum/config: {{ include "riffle.configYaml" . | sha256sum }}
{{- if and .Values.metrics.podAnnotations (ne (toString .Values.ports.metrics) "0") }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
A pod template with the overrides merged in: {ctx, base (YAML text of {metadata, spec}), override
(the component's podTemplate)}, the common podTemplate first. Maps merge (the override wins), lists
in spec and in a container replace (an empty list too), and spec.containers merge by name (an
unknown name is added as a sidecar). As with Helm's mergeOverwrite, false or empty scalars do not
replace a default.
*/}}
{{- define "riffle.mergePodTemplate" -}}
{{- $pod := fromYaml .base }}
{{- range $override := list .ctx.Values.podTemplate .override }}
{{- if $override }}
{{- $o := deepCopy $override }}
{{- $spec := default dict $o.spec }}
{{- $extra := default list $spec.containers }}
{{- $_ := unset $spec "containers" }}
{{- $pod = mergeOverwrite $pod $o }}
{{- range $k, $v := $spec }}{{ if kindIs "slice" $v }}{{ $_ := set $pod.spec $k $v }}{{ end }}{{ end }}
{{- $containers := list }}
{{- range $c := $pod.spec.containers }}
{{- range $e := $extra }}
{{- if eq $e.name $c.name }}
{{- $c = mergeOverwrite $c $e }}
{{- range $k, $v := $e }}{{ if kindIs "slice" $v }}{{ $_ := set $c $k $v }}{{ end }}{{ end }}
{{- end }}
{{- end }}
{{- $containers = append $containers $c }}
{{- end }}
{{- range $e := $extra }}
{{- $known := false }}
{{- range $c := $pod.spec.containers }}{{ if eq $e.name $c.name }}{{ $known = true }}{{ end }}{{ end }}
{{- if not $known }}{{ $containers = append $containers $e }}{{ end }}
{{- end }}
{{- $_ := set $pod.spec "containers" $containers }}
{{- end }}
{{- end }}
{{- toYaml $pod }}
{{- end }}

{{/* Container resources from {cpu, memory, cpuLimit}: memory is request and limit. */}}
{{- define "riffle.resources" -}}
requests:
  cpu: {{ .cpu | quote }}
  memory: {{ .memory | quote }}
limits:
  memory: {{ .memory | quote }}
  {{- if .cpuLimit }}
  cpu: {{ .cpuLimit | quote }}
  {{- end }}
{{- end }}
