{{/* The JobManager pod template (session Deployment and application Job). */}}
{{- define "riffle.jobmanagerPod" -}}
metadata:
  labels:
    {{- include "riffle.labels" . | nindent 4 }}
    {{- include "riffle.selectorLabels" (dict "ctx" . "component" "jobmanager") | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- include "riffle.podAnnotations" . | nindent 4 }}
spec:
  {{- if eq .Values.mode "application" }}
  restartPolicy: OnFailure
  {{- end }}
  serviceAccountName: {{ include "riffle.jobmanagerServiceAccountName" . }}
  {{- if .Values.highAvailability.enabled }}
  # Leader election and the HA ConfigMap go through the Kubernetes API.
  automountServiceAccountToken: true
  {{- else }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
  - name: jobmanager
    image: {{ include "riffle.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    {{- if eq .Values.mode "application" }}
    args:
    - standalone-job
    - --job-file
    - /opt/riffle/usrlib/job.sql
    - --job-id-seed
    - {{ default .Release.Name .Values.application.jobIdSeed | quote }}
    {{- with .Values.application.fromSavepoint }}
    - --fromSavepoint
    - {{ . | quote }}
    {{- end }}
    {{- if .Values.application.allowNonRestoredState }}
    - --allowNonRestoredState
    {{- end }}
    {{- else }}
    args: ["jobmanager"]
    {{- end }}
    env:
      {{- include "riffle.commonEnv" . | nindent 6 }}
      {{- if .Values.highAvailability.enabled }}
      # Part of this JobManager's identity in the Lease.
      - name: POD_NAME
        valueFrom:
          fieldRef:
            fieldPath: metadata.name
      {{- end }}
      {{- with .Values.jobManager.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- $ports := print (include "riffle.containerPort" (dict "name" "rpc" "port" .Values.ports.rpc)) (include "riffle.containerPort" (dict "name" "rest" "port" .Values.ports.rest)) (include "riffle.containerPort" (dict "name" "metrics" "port" .Values.ports.metrics)) | trim }}
    {{- with $ports }}
    ports:
      {{- . | nindent 6 }}
    {{- end }}
    {{- with .Values.jobManager.readinessProbe }}
    readinessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- /* A standby opens no port: with high availability a JobManager that cannot renew its Lease exits instead. */}}
    {{- if not .Values.highAvailability.enabled }}
    {{- with .Values.jobManager.livenessProbe }}
    livenessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- end }}
    resources:
      {{- include "riffle.resources" .Values.jobManager.resource | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
    - name: config
      mountPath: /opt/riffle/conf
      readOnly: true
    {{- if eq .Values.mode "application" }}
    - name: usrlib
      mountPath: /opt/riffle/usrlib
      readOnly: true
    {{- end }}
    - name: tmp
      mountPath: /tmp
    {{- include "riffle.stateVolumeMounts" . | nindent 4 }}
    {{- with .Values.jobManager.volumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  volumes:
  - name: config
    configMap:
      name: {{ include "riffle.fullname" . }}-config
  {{- if eq .Values.mode "application" }}
  - name: usrlib
    configMap:
      name: {{ default (printf "%s-job-sql" (include "riffle.fullname" .)) .Values.application.existingConfigMap }}
  {{- end }}
  - name: tmp
    emptyDir: {}
  {{- include "riffle.stateVolumes" . | nindent 2 }}
  {{- with .Values.jobManager.volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The TaskManager pod template. */}}
{{- define "riffle.taskmanagerPod" -}}
metadata:
  labels:
    {{- include "riffle.labels" . | nindent 4 }}
    {{- include "riffle.selectorLabels" (dict "ctx" . "component" "taskmanager") | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- include "riffle.podAnnotations" . | nindent 4 }}
spec:
  serviceAccountName: {{ include "riffle.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
  - name: taskmanager
    image: {{ include "riffle.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: ["taskmanager"]
    env:
      {{- include "riffle.commonEnv" . | nindent 6 }}
      {{- if not (hasKey (default dict .Values.riffleConfiguration) "taskmanager.host") }}
      - name: POD_IP
        valueFrom:
          fieldRef:
            fieldPath: status.podIP
      # The address other TaskManagers send data to.
      - name: RIFFLE_PROPERTIES
        value: |
          taskmanager.host: $(POD_IP)
      {{- end }}
      {{- with .Values.taskManager.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- $ports := print (include "riffle.containerPort" (dict "name" "data" "port" .Values.ports.data)) (include "riffle.containerPort" (dict "name" "metrics" "port" .Values.ports.metrics)) | trim }}
    {{- with $ports }}
    ports:
      {{- . | nindent 6 }}
    {{- end }}
    {{- with .Values.taskManager.readinessProbe }}
    readinessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.taskManager.livenessProbe }}
    livenessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    resources:
      {{- include "riffle.resources" .Values.taskManager.resource | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
    - name: config
      mountPath: /opt/riffle/conf
      readOnly: true
    - name: tmp
      mountPath: /tmp
    {{- include "riffle.stateVolumeMounts" . | nindent 4 }}
    {{- with .Values.taskManager.volumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  volumes:
  - name: config
    configMap:
      name: {{ include "riffle.fullname" . }}-config
  - name: tmp
    emptyDir: {}
  {{- include "riffle.stateVolumes" . | nindent 2 }}
  {{- with .Values.taskManager.volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
