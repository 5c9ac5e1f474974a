{{/* Names, labels and the shared Deployment/Service template of the four safegen services. */}}

{{- define "safegen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name, truncated like `helm create` does (trunc | trimSuffix "-"), but to
37 characters rather than 63: the chart appends up to 26 more ("-image-moderation-headless") and every
Service name and label value must stay within Kubernetes' 63. A new suffix longer than 26 characters
must lower this; tests/deploy/test_chart_names.py renders a 53-character release name to check.
*/}}
{{- define "safegen.fullnameMax" -}}37{{- end }}

{{- define "safegen.fullname" -}}
{{- $max := int (include "safegen.fullnameMax" .) }}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc $max | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc $max | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc $max | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "safegen.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "safegen.labels" -}}
helm.sh/chart: {{ include "safegen.chart" . }}
{{ include "safegen.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: safegen
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "safegen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "safegen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Per-service selector labels: (dict "root" $ "name" "text-moderation"). */}}
{{- define "safegen.componentSelectorLabels" -}}
{{ include "safegen.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/*
Resource requests and limits with every quantity as a string ("1", "500m", "4Gi"): server-side apply
rejects a bare number such as `nvidia.com/gpu: 1` where the API's schema says quantity (a string).
*/}}
{{- define "safegen.resources" -}}
{{- if not . }}
{}
{{- else }}
{{- range $kind, $quantities := . }}
{{ $kind }}:
{{- range $resource, $amount := $quantities }}
{{- /* YAML numbers arrive as float64: 4294967296 would print as 4.294967296e+09 */}}
{{- if and (kindIs "float64" $amount) (eq (float64 (int64 $amount)) $amount) }}
{{- $amount = int64 $amount }}
{{- end }}
  {{ $resource }}: {{ toString $amount | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "safegen.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "safegen.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The four services: values key, gRPC service checked by probes, `safegen serve` argument. */}}
{{- define "safegen.components" -}}
text-moderation: {key: textModeration, grpcService: safegen.v1.TextModerationService}
image-moderation: {key: imageModeration, grpcService: safegen.v1.ImageModerationService}
image-generation: {key: imageGeneration, grpcService: safegen.v1.ImageGenerationService}
gateway: {key: gateway, grpcService: safegen.v1.SafeGenerationService}
{{- end }}

{{/* The Prometheus job of a service: the headless Service's `safegen.dev/job` label (see ServiceMonitor). */}}
{{- define "safegen.job" -}}
{{- printf "%s-%s" (include "safegen.fullname" .root) .name }}
{{- end }}

{{/* The gateway's target for a backend: client-side round_robin over the headless Service's pod IPs. */}}
{{- define "safegen.backendTarget" -}}
{{- printf "dns:///%s-%s-headless.%s.svc.%s:%d" (include "safegen.fullname" .root) .name .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.ports.grpc) }}
{{- end }}

{{- define "safegen.image" -}}
{{- $img := merge (dict) (.component.image | default dict) .root.Values.image }}
{{- printf "%s:%s" $img.repository (default .root.Chart.AppVersion $img.tag) }}
{{- end }}

{{- define "safegen.imagePullPolicy" -}}
{{- $img := merge (dict) (.component.image | default dict) .root.Values.image }}
{{- $img.pullPolicy }}
{{- end }}

{{/* One env entry, only when the value is set, so the service's own default applies otherwise. */}}
{{- define "safegen.envIfSet" -}}
{{- if and (not (kindIs "invalid" .value)) (ne (toString .value) "") (ne (toString .value) "0") }}
- name: {{ .name }}
  value: {{ toString .value | quote }}
{{- end }}
{{- end }}

{{/* Settings of one service as environment variables: (dict "root" $ "name" ... "c" component values). */}}
{{- define "safegen.env" -}}
{{- $root := .root }}
{{- $c := .c }}
- name: SAFEGEN_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: SAFEGEN_LOG_FORMAT
  value: {{ $root.Values.logFormat | quote }}
- name: SAFEGEN_GRACE_SECONDS
  value: {{ include "safegen.graceSeconds" (dict "root" $root "name" .name) | quote }}
- name: SAFEGEN_DRAIN_DELAY_SECONDS
  value: {{ $root.Values.shutdown.drainDelaySeconds | quote }}
- name: SAFEGEN_GUARDRAILS_DIR
  value: /etc/safegen/guardrails
- name: SAFEGEN_DEFAULT_GUARDRAIL
  value: {{ $root.Values.guardrails.defaultId | quote }}
- name: SAFEGEN_GUARDRAILS_RELOAD_SECONDS
  value: {{ $root.Values.guardrails.reloadSeconds | quote }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AUDIT_LOG" "value" $root.Values.audit.log) }}
{{- if $root.Values.audit.content }}
- name: SAFEGEN_AUDIT_CONTENT
  value: "true"
{{- end }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AUDIT_QUEUE" "value" $root.Values.audit.queue) }}
# Writable places under a read-only root filesystem: both are emptyDirs.
- name: HOME
  value: /tmp
- name: XDG_CACHE_HOME
  value: /cache
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AWS_REGION" "value" $root.Values.aws.region) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AWS_ENDPOINT_URL" "value" $root.Values.aws.endpointUrl) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AWS_MAX_ATTEMPTS" "value" $root.Values.aws.maxAttempts) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AWS_CONNECT_TIMEOUT_S" "value" $root.Values.aws.connectTimeoutSeconds) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_AWS_READ_TIMEOUT_S" "value" $root.Values.aws.readTimeoutSeconds) }}
{{- if eq .name "text-moderation" }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_TEXT_BACKEND" "value" $c.backend) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN" "value" $c.comprehendEndpointArn) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID" "value" $c.bedrockGuardrailId) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_TEXT_BEDROCK_GUARDRAIL_VERSION" "value" $c.bedrockGuardrailVersion) }}
{{- else if eq .name "image-moderation" }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_IMAGE_BACKEND" "value" $c.backend) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_IMAGE_DETECTORS" "value" $c.detectors) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_IMAGE_RATE_LIMIT" "value" $c.rateLimit) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID" "value" $c.bedrockGuardrailId) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_VERSION" "value" $c.bedrockGuardrailVersion) }}
{{- else if eq .name "image-generation" }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_GEN_BACKEND" "value" $c.backend) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_GEN_MODEL" "value" $c.model) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_GEN_DEVICE" "value" $c.device) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_GEN_SAGEMAKER_ENDPOINT" "value" $c.sagemakerEndpoint) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_GEN_BEDROCK_MODEL_ID" "value" $c.bedrockModelId) }}
{{- else if eq .name "gateway" }}
- name: SAFEGEN_TEXT_MODERATION_ADDR
  value: {{ include "safegen.backendTarget" (dict "root" $root "name" "text-moderation") | quote }}
- name: SAFEGEN_IMAGE_MODERATION_ADDR
  value: {{ include "safegen.backendTarget" (dict "root" $root "name" "image-moderation") | quote }}
- name: SAFEGEN_IMAGE_GENERATION_ADDR
  value: {{ include "safegen.backendTarget" (dict "root" $root "name" "image-generation") | quote }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_MODERATION_TIMEOUT_SECONDS" "value" $c.moderationTimeoutSeconds) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_GENERATION_TIMEOUT_SECONDS" "value" $c.generationTimeoutSeconds) }}
{{- end }}
{{- include "safegen.securityEnv" (dict "root" $root "name" .name) }}
{{- range $k, $v := ($c.settings | default dict) }}
- name: {{ $k }}
  value: {{ toString $v | quote }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with $c.env }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* TLS and API-key settings of one service: (dict "root" $ "name" ...). Files come from the Secrets mounted
under /etc/safegen/tls and /etc/safegen/keys (see safegen.component). */}}
{{- define "safegen.securityEnv" -}}
{{- $root := .root }}
{{- $tls := $root.Values.tls }}
{{- if $tls.enabled }}
- name: SAFEGEN_TLS_CERT_FILE
  value: /etc/safegen/tls/tls.crt
- name: SAFEGEN_TLS_KEY_FILE
  value: /etc/safegen/tls/tls.key
- name: SAFEGEN_LOOPBACK_PORT
  value: {{ $tls.loopbackPort | quote }}
{{- if $tls.clientAuth }}
- name: SAFEGEN_TLS_CLIENT_CA_FILE
  value: /etc/safegen/tls/ca.crt
{{- end }}
{{- if eq .name "gateway" }}
- name: SAFEGEN_BACKEND_TLS_CA_FILE
  value: /etc/safegen/tls/ca.crt
{{- if $tls.clientAuth }}
- name: SAFEGEN_BACKEND_TLS_CERT_FILE
  value: /etc/safegen/tls/tls.crt
- name: SAFEGEN_BACKEND_TLS_KEY_FILE
  value: /etc/safegen/tls/tls.key
{{- end }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_BACKEND_TLS_SERVER_NAME" "value" $tls.backendServerName) }}
{{- end }}
{{- end }}
{{- if $root.Values.apiKeys.secretName }}
- name: SAFEGEN_API_KEYS_FILE
  value: /etc/safegen/keys/keys.yaml
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_API_KEYS_CHECK_SECONDS" "value" $root.Values.apiKeys.checkSeconds) }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_KEY_MAX_IN_FLIGHT" "value" $root.Values.apiKeys.keyMaxInFlight) }}
{{- end }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_MAX_CONCURRENT_RPCS" "value" $root.Values.maxConcurrentRpcs) }}
{{- if eq .name "gateway" }}
{{- include "safegen.envIfSet" (dict "name" "SAFEGEN_HTTP_MAX_BODY_BYTES" "value" (int64 $root.Values.gateway.http.maxBodyBytes)) }}
{{- end }}
{{- if and (eq .name "gateway") $root.Values.apiKeys.backendKey.secretName }}
- name: SAFEGEN_BACKEND_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.apiKeys.backendKey.secretName }}
      key: {{ $root.Values.apiKeys.backendKey.key }}
{{- end }}
{{- end }}

{{/* A health probe: the kubelet's native gRPC probe, or with TLS on (which it cannot speak) `safegen health`
in the container against the plaintext loopback port (3 s for the RPC; the kubelet allows at least 5). (dict "root" $ "service" name "timeout" seconds) */}}
{{- define "safegen.probe" -}}
{{- if .root.Values.tls.enabled }}
exec:
  command:
    - safegen
    - health
    - --target=127.0.0.1:{{ .root.Values.tls.loopbackPort }}
    - --service={{ .service }}
    - --timeout=3
{{- else }}
grpc:
  port: {{ .root.Values.ports.grpc }}
  {{- if .service }}
  service: {{ .service }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
One service: Deployment, ClusterIP Service, headless Service, and optionally HPA and PDB.
Called as (dict "root" $ "name" "text-moderation") from the per-service templates.
*/}}
{{- define "safegen.component" -}}
{{- $root := .root }}
{{- $name := .name }}
{{- $meta := get (include "safegen.components" . | fromYaml) $name }}
{{- $c := get $root.Values $meta.key }}
{{- $fullname := printf "%s-%s" (include "safegen.fullname" $root) $name }}
{{- $sd := $root.Values.shutdown }}
{{- if le (int $sd.terminationGracePeriodSeconds) (add (int $sd.drainDelaySeconds) (int $sd.graceSeconds)) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%v) must exceed drainDelaySeconds + graceSeconds (%v + %v): Kubernetes would kill pods mid-drain" $sd.terminationGracePeriodSeconds $sd.drainDelaySeconds $sd.graceSeconds) }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "safegen.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
spec:
  {{- if not $c.autoscaling.enabled }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "safegen.componentSelectorLabels" (dict "root" $root "name" $name) | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "safegen.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $name }}
        {{- with $c.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- if $root.Values.guardrails.restartOnChange }}
        # Opt-in: roll pods when policies change (by default they hot-reload from the mounted ConfigMap).
        checksum/guardrails: {{ include (print $root.Template.BasePath "/guardrails-configmap.yaml") $root | sha256sum }}
        {{- end }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $root.Values.ports.metrics | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $c.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "safegen.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ include "safegen.terminationGracePeriodSeconds" (dict "root" $root "name" $name) }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $name }}
          image: {{ include "safegen.image" (dict "root" $root "component" $c) | quote }}
          imagePullPolicy: {{ include "safegen.imagePullPolicy" (dict "root" $root "component" $c) }}
          args:
            - serve
            - {{ $name }}
            - --port={{ $root.Values.ports.grpc }}
            - --metrics-port={{ $root.Values.ports.metrics }}
            {{- if and (eq $name "gateway") $c.http.enabled }}
            - --http-port={{ $root.Values.ports.http }}
            {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $root.Values.ports.grpc }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $root.Values.ports.metrics }}
              protocol: TCP
            {{- if and (eq $name "gateway") $c.http.enabled }}
            - name: http
              containerPort: {{ $root.Values.ports.http }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "safegen.env" (dict "root" $root "name" $name "c" $c) | trim | nindent 12 }}
          # Model loading: the service reports SERVING only once its models are loaded.
          {{- /* Image generation with a model of the operator's own (SAFEGEN_GEN_MODEL) gets the long modelStartupProbe. */}}
          {{- $startup := $c.startupProbe }}
          {{- if and (eq $name "image-generation") $c.model $c.modelStartupProbe }}{{ $startup = $c.modelStartupProbe }}{{ end }}
          startupProbe:
            {{- include "safegen.probe" (dict "root" $root "service" $meta.grpcService "timeout" 5) | trim | nindent 12 }}
            {{- /* With TLS the probe is a Python process: not more often than every 5 s while models load. */}}
            periodSeconds: {{ if $root.Values.tls.enabled }}{{ max 5 (int $startup.periodSeconds) }}{{ else }}{{ $startup.periodSeconds }}{{ end }}
            failureThreshold: {{ $startup.failureThreshold }}
          readinessProbe:
            {{- include "safegen.probe" (dict "root" $root "service" $meta.grpcService "timeout" $c.readinessProbe.timeoutSeconds) | trim | nindent 12 }}
            periodSeconds: {{ $c.readinessProbe.periodSeconds }}
            failureThreshold: {{ $c.readinessProbe.failureThreshold }}
            {{- /* An exec probe starts a Python process: at least 5 s. */}}
            timeoutSeconds: {{ if $root.Values.tls.enabled }}{{ max 5 (int $c.readinessProbe.timeoutSeconds) }}{{ else }}{{ $c.readinessProbe.timeoutSeconds }}{{ end }}
          # The whole server (service ""): a hung process restarts; a NOT_SERVING dependency does not.
          livenessProbe:
            {{- include "safegen.probe" (dict "root" $root "service" "" "timeout" $c.livenessProbe.timeoutSeconds) | trim | nindent 12 }}
            periodSeconds: {{ $c.livenessProbe.periodSeconds }}
            failureThreshold: {{ $c.livenessProbe.failureThreshold }}
            {{- /* An exec probe starts a Python process: at least 5 s. */}}
            timeoutSeconds: {{ if $root.Values.tls.enabled }}{{ max 5 (int $c.livenessProbe.timeoutSeconds) }}{{ else }}{{ $c.livenessProbe.timeoutSeconds }}{{ end }}
          resources:
            {{- $res := deepCopy ($c.resources | default dict) }}
            {{- if and (eq $name "image-generation") $c.gpu.enabled }}
            {{- $limits := merge (dict $c.gpu.resourceName (int $c.gpu.count)) ($res.limits | default dict) }}
            {{- $_ := set $res "limits" $limits }}
            {{- end }}
            {{- include "safegen.resources" $res | trim | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: cache
              mountPath: /cache
            - name: guardrails
              mountPath: /etc/safegen/guardrails
              readOnly: true
            {{- if $root.Values.tls.enabled }}
            - name: tls
              mountPath: /etc/safegen/tls
              readOnly: true
            {{- end }}
            {{- if $root.Values.apiKeys.secretName }}
            - name: api-keys
              mountPath: /etc/safegen/keys
              readOnly: true
            {{- end }}
            {{- with $c.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        - name: cache
          emptyDir: {}
        - name: guardrails
          configMap:
            name: {{ include "safegen.fullname" $root }}-guardrails
        {{- if $root.Values.tls.enabled }}
        - name: tls
          secret:
            secretName: {{ required "tls.secretName is required when tls.enabled" $root.Values.tls.secretName }}
        {{- end }}
        {{- if $root.Values.apiKeys.secretName }}
        - name: api-keys
          secret:
            secretName: {{ $root.Values.apiKeys.secretName }}
        {{- end }}
        {{- with $c.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $nodeSelector := $c.nodeSelector | default dict }}
      {{- $tolerations := $c.tolerations | default list }}
      {{- if and (eq $name "image-generation") $c.gpu.enabled }}
      {{- $nodeSelector = merge (deepCopy $nodeSelector) ($c.gpu.nodeSelector | default dict) }}
      {{- $tolerations = concat $tolerations ($c.gpu.tolerations | default list) }}
      {{- end }}
      {{- with $nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "safegen.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
  {{- if eq $name "gateway" }}
  {{- with $c.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
spec:
  type: {{ if eq $name "gateway" }}{{ $c.service.type }}{{ else }}ClusterIP{{ end }}
  selector:
    {{- include "safegen.componentSelectorLabels" (dict "root" $root "name" $name) | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $root.Values.ports.grpc }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- if and (eq $name "gateway") $c.http.enabled }}
    - name: http
      port: {{ $root.Values.ports.http }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- end }}
---
# Headless: DNS returns every ready pod's IP, so gRPC clients balance with round_robin across pods
# instead of pinning one long-lived HTTP/2 connection to one pod. It also carries the metrics port
# that the ServiceMonitor scrapes, so metrics never sit behind the (possibly public) gateway Service.
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}-headless
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "safegen.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
    safegen.dev/job: {{ include "safegen.job" (dict "root" $root "name" $name) }}
    safegen.dev/headless: "true"
spec:
  clusterIP: None
  selector:
    {{- include "safegen.componentSelectorLabels" (dict "root" $root "name" $name) | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $root.Values.ports.grpc }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ $root.Values.ports.metrics }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- if and $c.autoscaling.enabled (ne (include "safegen.queueProvider" $c) "keda") }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "safegen.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}
  minReplicas: {{ $c.autoscaling.minReplicas }}
  maxReplicas: {{ $c.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $c.autoscaling.targetCPUUtilizationPercentage }}
    {{- include "safegen.queueMetrics" (dict "root" $root "name" $name "c" $c) | nindent 4 }}
  {{- include "safegen.hpaBehavior" $c | nindent 2 }}
{{- end }}
{{- if $c.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "safegen.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
spec:
  maxUnavailable: {{ $c.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "safegen.componentSelectorLabels" (dict "root" $root "name" $name) | nindent 6 }}
{{- end }}
{{- end }}
