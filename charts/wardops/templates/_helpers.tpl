{{/*
Names and labels shared by every template.
*/}}

{{/* Chart name, at most 63 characters. */}}
{{- define "wardops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name, the prefix of every object: fullnameOverride, else the release name
when it already contains the chart name, else `<release>-<chart>`. Truncated to
63 characters (DNS label) minus room for the longest suffix we add ("-leader-election").
*/}}
{{- define "wardops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* `chart-version` for the helm.sh/chart label. */}}
{{- define "wardops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of the release (Deployment selectors are immutable). */}}
{{- define "wardops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wardops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Recommended labels of every object. */}}
{{- define "wardops.labels" -}}
helm.sh/chart: {{ include "wardops.chart" . }}
{{ include "wardops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: wardops
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Name of the operator's ServiceAccount. */}}
{{- define "wardops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wardops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespace of the leader election Lease. */}}
{{- define "wardops.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* Image reference: repository:tag, or repository:tag@digest. */}}
{{- define "wardops.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The isolated pool's node selector as WARDOPS_ISOLATED_NODE_SELECTOR: `k=v,k2=v2` (keys sorted). */}}
{{- define "wardops.isolatedNodeSelector" -}}
{{- $pairs := list }}
{{- range $k, $v := .Values.isolatedNodePool.nodeSelector }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The cluster DNS pods' labels as WARDOPS_DNS_POD_SELECTOR: `key=value,...`. */}}
{{- define "wardops.dnsPodSelector" -}}
{{- $pairs := list }}
{{- range $k, $v := .Values.workloadDefaults.dns.podSelector }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The isolated pool's tolerations as WARDOPS_ISOLATED_TOLERATIONS: `key=value:Effect` or `key:Effect`. */}}
{{- define "wardops.isolatedTolerations" -}}
{{- $items := list }}
{{- range .Values.isolatedNodePool.tolerations }}
{{- if .value }}
{{- $items = append $items (printf "%s=%s:%s" .key .value .effect) }}
{{- else }}
{{- $items = append $items (printf "%s:%s" .key .effect) }}
{{- end }}
{{- end }}
{{- join "," $items }}
{{- end }}

{{/* Checks across values that the schema cannot express. */}}
{{- define "wardops.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without a leader every replica would reconcile the same resources" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled=true needs metrics.service.enabled=true: the ServiceMonitor scrapes the metrics Service" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail "metrics.port and health.port must differ" }}
{{- end }}
{{- end }}

{{/*
The operator's rules on its own resources and on the children it builds, used by
the ClusterRole (all namespaces) or by a Role in each watched namespace.
Every rule says why it is needed; no wildcards. docs/rbac.md explains them.
*/}}
{{- define "wardops.controllerRules" -}}
# Exactly what the operator calls (a test compares these rules with the requests in the
# API server's audit log of a run under them). WardServices, DataConnectors,
# BackupPolicies and Restores: listed and watched into the operator's caches;
# WardServices also listed at start.
- apiGroups: ["wardops.io"]
  resources: ["wardservices", "dataconnectors", "backuppolicies", "restores"]
  verbs: ["list", "watch"]
# A Restore in place stops its WardService through it: the wardops.io/restore
# annotation, set and removed by a merge patch (the WardService controller then scales
# the ward to zero). Nothing else of a WardService is ever written.
- apiGroups: ["wardops.io"]
  resources: ["wardservices"]
  verbs: ["patch"]
# Status subresource: the operator reports conditions and observedGeneration by
# server-side apply (and a DataConnector's gateway URL).
- apiGroups: ["wardops.io"]
  resources: ["wardservices/status", "dataconnectors/status", "backuppolicies/status", "restores/status"]
  verbs: ["patch"]
# Children carry an owner reference with blockOwnerDeletion, which the
# OwnerReferencesPermissionEnforcement admission plugin allows only to who may update
# the owner's finalizers. Checked by that plugin; never requested.
- apiGroups: ["wardops.io"]
  resources: ["wardservices/finalizers"]
  verbs: ["update"]
# The children of WardServices and of DataConnectors (the gateway): watched by label
# into the caches, read once when the cache has not seen a new child yet, and applied
# by server-side apply (a patch that creates the object the first time, hence create).
# The ward service's pods.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Its in-cluster address, its configuration and its pods' identity (no token automount).
- apiGroups: [""]
  resources: ["services", "configmaps", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Its network isolation (a sync connector's pull policy is deleted with its CronJob
# when the connector goes back to mode proxy).
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Optional children are also deleted when the spec no longer asks for them. The data
# volume: only an owned one (reclaimPolicy Delete); a retained one is never deleted.
# A sync DataConnector's snapshot volume (owned; deleted back in mode proxy).
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The Ingress of a public or internal service that sets spec.ingress.
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The disruption budget of a service with more than one replica.
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The autoscaler of a service that sets spec.autoscaling.
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# A sync DataConnector's schedule and a BackupPolicy's (one per target): CronJobs,
# applied like the other children, deleted when a connector goes back to mode proxy or
# a WardService is no longer a policy's target.
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Its pulls and backups: Jobs watched by label (the CronJobs', for status), one created
# per new wardops.io/sync-now or wardops.io/backup-now value (per target), and a
# connector's deleted when it goes back to mode proxy.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "delete"]
# The pods of those Jobs, watched by label: their termination message is the pull's or
# the backup's result (status). Never created, changed or exec'd into.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# Secrets: metadata listed and watched (no values), and a referenced Secret read
# once per resourceVersion to learn its key names: the operator checks that the keys
# a spec names exist. It never keeps, logs or copies a value.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# One write: the encryption key of a BackupPolicy without spec.encryption, generated
# once (random), owned by nothing so that it outlives the policy. Never updated,
# patched or deleted.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
# Events on wardops resources for every state change a person should see.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Rules the operator needs cluster-wide in every mode. */}}
{{- define "wardops.clusterReaderRules" -}}
# Namespaces: read their wardops.io/classification label (classified resources run only
# in namespaces labelled at their level or higher). Cluster-wide even in namespaced mode.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
# PersistentVolumes: the volume bound to a retained WardService claim gets reclaim policy
# Retain, once, so its data outlives the claim when the namespace is deleted. No read.
- apiGroups: [""]
  resources: ["persistentvolumes"]
  verbs: ["patch"]
{{- end }}

{{/* Rules on the leader election Lease, in the lease namespace. */}}
{{- define "wardops.leaderElectionRules" -}}
# Create the Lease the first time (create cannot be limited to a name).
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
# Read, watch (to take over the moment it is released), renew and take over the
# Lease, and only this one (list/watch are limited by a metadata.name field selector).
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ .Values.leaderElection.leaseName | quote }}]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}

{{/* The namespaces the operator serves in namespace-scoped mode, as a list: `watchNamespaces`
plus the namespaces whose labels match `wardNamespaceSelector` (looked up at install and
upgrade). Empty: every namespace (cluster mode). */}}
{{- define "wardops.wardNamespaces" -}}
{{- $out := list }}
{{- range .Values.watchNamespaces }}{{ $out = append $out . }}{{ end }}
{{- with .Values.wardNamespaceSelector }}
{{- $selector := . }}
{{- $found := 0 }}
{{- range (lookup "v1" "Namespace" "" "").items }}
{{- $labels := .metadata.labels | default dict }}
{{- $match := true }}
{{- range $k, $v := $selector }}{{ if ne (get $labels $k) $v }}{{ $match = false }}{{ end }}{{ end }}
{{- if $match }}{{ $out = append $out .metadata.name }}{{ $found = add1 $found }}{{ end }}
{{- end }}
{{- if eq $found 0 }}
{{- fail (printf "wardNamespaceSelector %v matches no namespace: label the ward namespaces first (helm template cannot look them up; use watchNamespaces there)" $selector) }}
{{- end }}
{{- end }}
{{- $out | uniq | sortAlpha | toJson }}
{{- end }}
