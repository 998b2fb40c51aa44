{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "nim-scaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name; also the main Service name, so KEDA's scalerAddress is <fullname>.<ns>.svc:<port>.
     Truncated to 54 so that "<fullname>-headless" still fits the 63-character DNS label limit. */}}
{{- define "nim-scaler.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nim-scaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nim-scaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nim-scaler.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nim-scaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: external-scaler
app.kubernetes.io/part-of: keda
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "nim-scaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "nim-scaler.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "nim-scaler.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the scaler serves, as a list; empty with rbac.scope=cluster means all. */}}
{{- define "nim-scaler.namespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- toJson (uniq .Values.watchNamespaces) -}}
{{- else if eq .Values.rbac.scope "cluster" -}}
{{- toJson (list) -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{- define "nim-scaler.tlsSecretName" -}}
{{- if .Values.tls.secretName -}}
{{- .Values.tls.secretName -}}
{{- else if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "nim-scaler.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Probe mode after resolving "auto". */}}
{{- define "nim-scaler.probeMode" -}}
{{- if eq .Values.probes.mode "auto" -}}
{{- if .Values.tls.enabled -}}http{{- else -}}grpc{{- end -}}
{{- else -}}
{{- .Values.probes.mode -}}
{{- end -}}
{{- end -}}

{{/* Every DNS name KEDA may use to reach the scaler (for the TLS certificate). */}}
{{- define "nim-scaler.dnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list -}}
{{- $svcs := list (include "nim-scaler.fullname" .) -}}
{{- if include "nim-scaler.headlessEnabled" . -}}
{{- $svcs = append $svcs (printf "%s-headless" (include "nim-scaler.fullname" .)) -}}
{{- end -}}
{{- range $svcs -}}
{{- $names = concat $names (list . (printf "%s.%s" . $ns) (printf "%s.%s.svc" . $ns) (printf "%s.%s.svc.cluster.local" . $ns)) -}}
{{- end -}}
{{- toJson (concat $names .Values.tls.certManager.extraDnsNames) -}}
{{- end -}}


{{/* "true" when the replicas run as one scaler (issue 12): ha.enabled and more than one replica.
     They then find each other through the EndpointSlices of the headless Service. */}}
{{- define "nim-scaler.haEnabled" -}}
{{- if and .Values.ha.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* "true" when <fullname>-headless is rendered: asked for, or needed as the peers' Service. */}}
{{- define "nim-scaler.headlessEnabled" -}}
{{- if or .Values.service.headless.enabled (include "nim-scaler.haEnabled" .) -}}true{{- end -}}
{{- end -}}

{{/* The name peers' certificates are checked against: ha.peerTlsServerName, else the main
     Service's <fullname>.<namespace>.svc, which the chart's cert-manager Certificate lists. */}}
{{- define "nim-scaler.peerTlsServerName" -}}
{{- default (printf "%s.%s.svc" (include "nim-scaler.fullname" .) .Release.Namespace) .Values.ha.peerTlsServerName -}}
{{- end -}}

{{/* A Prometheus duration of whole units (30s, 5m, 2h, 1d) in seconds, for PromQL comparisons. */}}
{{- define "nim-scaler.seconds" -}}
{{- $d := toString . -}}
{{- $n := regexFind "^[0-9]+" $d | int -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" $d) $d -}}
{{- $mult := dict "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 -}}
{{- if not (hasKey $mult $unit) -}}
{{- fail (printf "prometheusRule.staleAfter: %q must be a whole number of s, m, h, d or w, e.g. 5m" $d) -}}
{{- end -}}
{{- mul $n (get $mult $unit) -}}
{{- end -}}

{{/* The Secret holding the wake hook's token: the user's, the generated one, or "" (no token). */}}
{{- define "nim-scaler.wakeTokenSecret" -}}
{{- if .Values.wake.tokenSecret.name -}}
{{- .Values.wake.tokenSecret.name -}}
{{- else if .Values.wake.tokenSecret.generate -}}
{{- printf "%s-wake-token" (include "nim-scaler.fullname" .) -}}
{{- end -}}
{{- end -}}
