{{/* Autoscaling on the queue (HPA Pods metrics or KEDA) and draining that follows the generation timeout. */}}

{{/* The queue provider of a service's values: "", "prometheus-adapter" or "keda". */}}
{{- define "safegen.queueProvider" -}}
{{- ((.autoscaling.queue | default dict).provider | default "") -}}
{{- end }}

{{/* "true" when a service's pods drain as long as a generation may last: image-generation and, if asked, the gateway. */}}
{{- define "safegen.drainsGenerations" -}}
{{- if or (and (eq .name "image-generation") .root.Values.imageGeneration.graceFollowsGenerationTimeout) (and (eq .name "gateway") .root.Values.gateway.graceFollowsGenerationTimeout) }}true{{ end }}
{{- end }}

{{/* SAFEGEN_GRACE_SECONDS of a service, (dict "root" $ "name" ...): long enough to finish a whole generation where asked. */}}
{{- define "safegen.graceSeconds" -}}
{{- $sd := .root.Values.shutdown }}
{{- if include "safegen.drainsGenerations" . }}
{{- max (int $sd.graceSeconds) (int .root.Values.gateway.generationTimeoutSeconds) }}
{{- else }}
{{- $sd.graceSeconds }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds of a service: always above drain delay + grace, so the kubelet never kills mid-drain. */}}
{{- define "safegen.terminationGracePeriodSeconds" -}}
{{- $sd := .root.Values.shutdown }}
{{- if include "safegen.drainsGenerations" . }}
{{- max (int $sd.terminationGracePeriodSeconds) (add (int $sd.drainDelaySeconds) (include "safegen.graceSeconds" . | int) 5) }}
{{- else }}
{{- $sd.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The PromQL selector of one service's gauges: (dict "root" $ "name" ...). */}}
{{- define "safegen.gaugeSelector" -}}
{{- printf "namespace=\"%s\", job=\"%s\", service=\"%s\"" .root.Release.Namespace (include "safegen.job" .) .name }}
{{- end }}

{{/* Extra HPA metrics for provider prometheus-adapter: the per-pod gauges, as Pods metrics. */}}
{{- define "safegen.queueMetrics" -}}
{{- $q := .c.autoscaling.queue | default dict }}
{{- if eq (include "safegen.queueProvider" .c) "prometheus-adapter" }}
- type: Pods
  pods:
    metric:
      name: safegen_inflight_requests
      selector:
        matchLabels:
          service: {{ .name }}
    target:
      type: AverageValue
      averageValue: {{ $q.targetInflightPerPod | quote }}
- type: Pods
  pods:
    metric:
      name: safegen_queue_depth
      selector:
        matchLabels:
          service: {{ .name }}
    target:
      type: AverageValue
      averageValue: {{ $q.targetQueueDepthPerPod | quote }}
{{- end }}
{{- end }}

{{/* HPA scale-down behaviour: a stabilisation window, then at most one pod a minute (each one drains first). */}}
{{- define "safegen.hpaBehavior" -}}
{{- with .autoscaling.scaleDownStabilizationSeconds }}
behavior:
  scaleDown:
    stabilizationWindowSeconds: {{ . }}
    policies:
      - type: Pods
        value: 1
        periodSeconds: 60
{{- end }}
{{- end }}
