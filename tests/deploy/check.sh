#!/usr/bin/env bash
# Deployment checks: Helm chart, keda/ examples, image recipe, Grafana dashboard, install docs.
# No cluster is needed: every check runs a real tool offline (helm lint/template, kubectl
# --dry-run=client, JSON-schema validation against published Kubernetes schemas and KEDA's CRDs, the
# nim-scaler binary itself) and every check has negative cases that must fail.
#
# Usage: tests/deploy/check.sh [--binary PATH] [--emulator PATH]
#   --binary PATH  nim-scaler to check the dashboard's metrics and the chart's flags against (live).
#                  Without it those two checks run against the documented lists only.
#   --emulator PATH  nim-emulator to run the quickstart's fake NIM arguments with (section 7).
# Env:   NIM_SCALER_TOOLS_DIR  where scripts/install-helm.sh keeps helm, kubectl and schemas.
# Needs: bash, python3 (Debian: python3-yaml, python3-jsonschema, python3-grpcio, python3-grpc-tools),
#        npm, unzip, make.
# Prints one PASS/FAIL line per check and ends with "N passed, M failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BINARY=""
EMULATOR=""
while (($#)); do
  case "$1" in
    --binary) BINARY="$2"; shift 2 ;;
    --emulator) EMULATOR="$2"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--emulator PATH]" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
[[ -x $PY ]] || PY="$(command -v python3)"
CHART="$ROOT/deploy/helm/nim-scaler"
HERE="$ROOT/tests/deploy"
CRDS="$ROOT/deploy/schemas/keda"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/nimscaler-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

TOOLS="$("$ROOT/scripts/install-helm.sh" 2>"$WORK/install.log" | tail -1)"
if [[ -z "$TOOLS" || ! -x "$TOOLS/bin/helm" ]]; then
  cat "$WORK/install.log" >&2
  echo "FAIL install-tools: scripts/install-helm.sh did not provide helm"
  echo "0 passed, 1 failed"
  exit 1
fi
HELM="$TOOLS/bin/helm"
KUBECTL="$TOOLS/bin/kubectl"
SCHEMAS="$TOOLS/schemas"
# Offline and hermetic: no kubeconfig, no Helm repositories or plugins of the user.
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"
export KUBECONFIG="$WORK/no-kubeconfig"

passed=0
failed=0
failed_names=()
# check NAME CMD...: runs CMD, PASS on exit 0.
check() {
  local name="$1"; shift
  local log="$WORK/log.$((passed + failed))"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name"
    grep '^note:' "$log" | sed 's/^/    /' | head -20
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name"; sed 's/^/    /' "$log" | tail -40
  fi
}
# must_fail NAME EXPECTED_SUBSTRING CMD...: PASS when CMD fails and its output contains the text.
must_fail() {
  local name="$1" want="$2"; shift 2
  local log="$WORK/log.$((passed + failed))"
  if "$@" >"$log" 2>&1; then
    failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name (accepted, must be rejected)"
    sed 's/^/    /' "$log" | tail -20
  elif grep -qF -- "$want" "$log"; then
    passed=$((passed + 1)); echo "PASS $name (rejected: $want)"
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name (rejected, but without \"$want\")"
    sed 's/^/    /' "$log" | tail -20
  fi
}
# Front doors' CRDs (docs/front-doors.md): the KEDA HTTP add-on's HTTPScaledObject and the Gateway
# API Inference Extension's InferencePool, vendored beside KEDA's with their SOURCES.md.
FRONT_DOOR_CRDS=("$ROOT/deploy/schemas/http-add-on" "$ROOT/deploy/schemas/gateway-api-inference-extension")
validate() {
  "$PY" "$HERE/k8s_validate.py" --schemas "$SCHEMAS" --crds "$CRDS" \
    "${FRONT_DOOR_CRDS[@]/#/--crds=}" "$@"
}
render() { # render VALUES_FILE OUT [extra helm args]
  local values="$1" out="$2"; shift 2
  "$HELM" template nim-scaler "$CHART" --namespace nim-scaler -f "$values" "$@" >"$out"
}

echo "deploy checks: helm $("$HELM" version --short), kubectl $("$KUBECTL" version --client 2>/dev/null | head -1 | awk '{print $3}')"

# --- 1. Chart: lint, render and validate every values file -----------------------------------
renders=()
for v in "$HERE"/values/*.yaml; do
  n="$(basename "$v" .yaml)"
  check "helm lint --strict ($n)" "$HELM" lint --strict "$CHART" --namespace nim-scaler -f "$v"
  check "helm template ($n)" render "$v" "$WORK/render-$n.yaml"
  if [[ -s "$WORK/render-$n.yaml" ]]; then
    renders+=("$WORK/render-$n.yaml")
    check "schema: rendered chart ($n)" validate -q "$WORK/render-$n.yaml"
    check "policy: rendered chart ($n)" "$PY" "$HERE/chart_assertions.py" "$CHART/values.yaml" "$v" "$WORK/render-$n.yaml" nim-scaler
  fi
done
check "helm package" "$HELM" package "$CHART" --destination "$WORK/pkg"
# The chart's appVersion is the version the binary reports (written once, in CMakeLists.txt's project()).
if [ -n "$BINARY" ]; then
  check "Chart.yaml appVersion is the binary's version" bash -c '
    want=$("$1" version | awk "{print \$2}")
    got=$(sed -n "s/^appVersion: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$2/Chart.yaml")
    [ -n "$want" ] && [ "$want" = "$got" ] || { echo "appVersion \"$got\", binary \"$want\""; exit 1; }' _ "$BINARY" "$CHART"
fi

# Values the schema or the templates must refuse.
for v in "$HERE"/negative/values-*.yaml; do
  want="$(sed -n 's/^# expect-helm: //p' "$v" | head -1)"
  must_fail "negative values: $(basename "$v")" "$want" render "$v" "$WORK/neg.yaml"
done

# --- 2. The documented install path (docs/install.md) -----------------------------------------
# The helm install command of docs/install.md (and the short one of README.md's quickstart), run as
# helm template with the same flags: readme_cmd FILE prints the block after <!-- install-command -->.
readme_cmd() {
  "$PY" - "$1" <<'EOF'
import re, shlex, sys
text = open(sys.argv[1]).read()
m = re.search(r"<!-- install-command -->\s*```(?:sh|bash|shell)?\n(.*?)```", text, re.S)
if not m:
    sys.exit(f"no <!-- install-command --> block in {sys.argv[1]}")
cmd = shlex.split(m.group(1).replace("\\\n", " "), comments=True)
if cmd[:2] != ["helm", "install"]:
    sys.exit(f"install block does not start with helm install: {cmd[:3]}")
out = []
skip_next = False
for a in cmd[2:]:
    if a in ("--create-namespace", "--wait", "--atomic"):
        continue
    out.append(a)
print("\n".join(out))
EOF
}
install_readme() { # install_readme DOC OUT
  local args=()
  mapfile -t args < <(readme_cmd "$1") || return 1
  ((${#args[@]} >= 2)) || { echo "could not read the install command"; return 1; }
  # args: RELEASE CHART_PATH [flags...]; the chart path is relative to the repository root.
  (cd "$ROOT" && "$HELM" template "${args[@]}") >"$2"
}
check "docs/install.md install command renders" install_readme "$ROOT/docs/install.md" "$WORK/render-readme.yaml"
check "schema: docs/install.md install" validate -q "$WORK/render-readme.yaml"
check "docs/install.md names the chart's Service address" bash -c '
  addr=$(grep -o "nim-scaler-headless\.[a-z0-9-]*\.svc:[0-9]*" "$1" | sort -u)
  [[ -n $addr ]] || { echo "$1 names no scalerAddress"; exit 1; }
  for a in $addr; do grep -q "^  name: ${a%%.*}$" "$2" && grep -q "namespace: $(echo "$a" | cut -d. -f2)$" "$2" \
    || { echo "$a is not rendered by the documented install"; exit 1; }; done' _ "$ROOT/docs/install.md" "$WORK/render-readme.yaml"
check "README.md quickstart install command renders" install_readme "$ROOT/README.md" "$WORK/render-readme-quickstart.yaml"
check "schema: README.md quickstart install" validate -q "$WORK/render-readme-quickstart.yaml"

# The TLS Secret docs/install.md tells users to create, made by real kubectl, must carry the keys the chart mounts.
tls_secret() {
  local d="$WORK/tls"; mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
  cp "$d/ca.crt" "$d/tls.crt"; cp "$d/ca.key" "$d/tls.key"
  (cd "$d" && "$KUBECTL" create secret generic nim-scaler-tls --namespace nim-scaler \
     --from-file=tls.crt --from-file=tls.key --from-file=ca.crt --dry-run=client -o yaml) >"$d/secret.yaml" || return 1
  validate "$d/secret.yaml" || return 1
  "$PY" - "$d/secret.yaml" "$WORK/render-tls-existing-secret.yaml" <<'EOF'
import sys, yaml
secret = yaml.safe_load(open(sys.argv[1]))
dep = next(d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == "Deployment")
# The TLS Secrets' keys (the wake token is a Secret of its own).
need = {i["key"] for v in dep["spec"]["template"]["spec"]["volumes"]
        if "secret" in v and v["name"] != "wake-token" for i in v["secret"].get("items", [])}
if not need:
    sys.exit("the chart mounts no TLS Secret key in this render")
missing = need - set(secret["data"])
sys.exit(f"the chart mounts keys {sorted(missing)} that kubectl's Secret lacks" if missing else 0)
EOF
}
if command -v openssl >/dev/null; then
  check "kubectl-made TLS Secret fits the chart" tls_secret
else
  check "kubectl-made TLS Secret fits the chart (openssl missing)" false
fi

# --- 3. keda/ examples ------------------------------------------------------------------------
examples=("$ROOT"/keda/*.yaml)
check "schema: keda/ examples (${#examples[@]} files)" validate "${examples[@]}"
check "lint: keda/ examples" "$PY" "$HERE/lint_examples.py" --install "$WORK/render-readme.yaml" "${examples[@]}"
for f in "$HERE"/negative/*.yaml; do
  case "$(basename "$f")" in values-*) continue ;; esac
  if want="$(sed -n 's/^# expect: //p' "$f" | head -1)"; [[ -n $want ]]; then
    must_fail "negative example: $(basename "$f")" "$want" validate "$f"
  fi
  if want="$(sed -n 's/^# expect-lint: //p' "$f" | head -1)"; [[ -n $want ]]; then
    check "negative example is schema-valid: $(basename "$f")" validate "$f"
    must_fail "negative example: $(basename "$f")" "$want" \
      "$PY" "$HERE/lint_examples.py" --install "$WORK/render-readme.yaml" "$f"
  fi
done
# A broken copy of a real example is rejected by the very same command.
sed 's/targetKvCache: "0.1"/targetKvCache: 0.1/' "$ROOT/keda/nim-llama-3.1-8b-kv.yaml" >"$WORK/broken-example.yaml"
must_fail "broken copy of keda/nim-llama-3.1-8b-kv.yaml" "is not of type 'string'" validate "${examples[@]}" "$WORK/broken-example.yaml"
# The HTTP add-on recipe's HTTPScaledObject is validated against the add-on's CRD: a copy that
# names its port twice (number and name) breaks the CRD's CEL rule, and one with the field
# misspelt is an unknown field (a copy of the real file, so the check cannot pass vacuously).
sed 's/^    port: 8000$/    port: 8000\n    portName: http/' "$ROOT/keda/http-add-on.yaml" >"$WORK/broken-httpso-port.yaml"
must_fail "broken copy of keda/http-add-on.yaml (port and portName)" \
  "spec/scaleTargetRef: must define either the 'portName' or the 'port'" validate "$WORK/broken-httpso-port.yaml"
sed 's/^    conditionWait: /    conditionWaitTimeout: /' "$ROOT/keda/http-add-on.yaml" >"$WORK/broken-httpso-field.yaml"
must_fail "broken copy of keda/http-add-on.yaml (misspelt timeouts field)" \
  "spec/timeouts: unknown field(s) ('conditionWaitTimeout' was unexpected)" validate "$WORK/broken-httpso-field.yaml"

# --- 4. Image recipe --------------------------------------------------------------------------
check "docker/Dockerfile builds like CI" "$PY" "$HERE/check_dockerfile.py" "$ROOT"
mkdir -p "$WORK/fake/docker" "$WORK/fake/deploy/helm/nim-scaler"
cp "$CHART/values.yaml" "$WORK/fake/deploy/helm/nim-scaler/"
cp "$ROOT/Makefile" "$WORK/fake/" 2>/dev/null; mkdir -p "$WORK/fake/scripts"; cp "$ROOT/scripts/install-deps.sh" "$WORK/fake/scripts/"
sed 's/^RUN make build$/RUN make build BUILD_TYPE=Debug/' "$ROOT/docker/Dockerfile" >"$WORK/fake/docker/Dockerfile"
must_fail "negative: Dockerfile with another build command" "CI runs plain \`make build\`" "$PY" "$HERE/check_dockerfile.py" "$WORK/fake"
sed 's/^RUN make build$/RUN cmake -S . -B build \&\& cmake --build build -j8/' "$ROOT/docker/Dockerfile" >"$WORK/fake/docker/Dockerfile"
must_fail "negative: Dockerfile with its own CMake commands" "differ from CI" "$PY" "$HERE/check_dockerfile.py" "$WORK/fake"
sed 's/^USER .*/USER root/' "$ROOT/docker/Dockerfile" >"$WORK/fake/docker/Dockerfile"  # else unchanged
must_fail "negative: Dockerfile running as root" "runtime USER" "$PY" "$HERE/check_dockerfile.py" "$WORK/fake"

# --- 5. Alerts: promtool checks the rendered PrometheusRule and proves each alert fires --------
# alert_rules RULE_TEMPLATE_SED: renders the rule (release nim-scaler), applies a sed expression to
# it (the negative case breaks it), and runs promtool check rules and test rules on it.
alert_rules() {
  local dir="$WORK/alerts"
  rm -rf "$dir" && mkdir -p "$dir" &&
    "$HELM" template nim-scaler "$CHART" --namespace nim-scaler --set prometheusRule.enabled=true \
      --show-only templates/prometheusrule.yaml >"$dir/rendered.yaml" &&
    "$PY" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(yaml.safe_dump({"groups": d["spec"]["groups"]}, sort_keys=False))' \
      "$dir/rendered.yaml" | sed "$1" >"$dir/rules.yaml" &&
    cp "$HERE/prometheusrule_test.yaml" "$dir/test.yaml" &&
    promtool check rules "$dir/rules.yaml" && promtool test rules "$dir/test.yaml"
}
if command -v promtool >/dev/null; then
  check "PrometheusRule: promtool check rules and test rules" alert_rules 's/^//'
  must_fail "negative: an alert that never fires fails its promtool test" "FAILED" alert_rules 's/ > 300$/ > 3000/'
else
  check "promtool is installed (Debian package prometheus)" false
fi

# --- 6. Dashboard -----------------------------------------------------------------------------
DASH="$ROOT/deploy/grafana/nim-scaler.json"
check "dashboard is valid JSON with panels" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["panels"] and d["uid"]' "$DASH"
sed 's/nimscaler_stream_clients{/kube_pod_info{/' "$DASH" >"$WORK/bad-dash.json"
must_fail "negative: dashboard with a foreign metric" "is not one of the scaler's own metrics" "$PY" "$HERE/dashboard_metrics.py" "$WORK/bad-dash.json"
# Issue 14 item 3: the chart ships the same dashboard as a ConfigMap for the Grafana sidecar (off by default).
dash_configmap() { # dash_configmap DASHBOARD_JSON: render with the ConfigMap on, compare, validate
  "$HELM" template nim-scaler "$CHART" --namespace nim-scaler --set dashboard.configMap.enabled=true \
    >"$WORK/render-dash.yaml" &&
    "$PY" "$HERE/dashboard_configmap.py" "$1" "$WORK/render-dash.yaml" && validate -q "$WORK/render-dash.yaml"
}
check "chart dashboard ConfigMap is deploy/grafana/nim-scaler.json" dash_configmap "$DASH"
sed 's/"title": "nim-scaler"/"title": "changed"/' "$DASH" >"$WORK/bad-dash3.json"
must_fail "negative: chart dashboard differs from the file" "differs from" "$PY" "$HERE/dashboard_configmap.py" "$WORK/bad-dash3.json" "$WORK/render-dash.yaml"
sed 's/\$__rate_interval/5m/' "$DASH" >"$WORK/bad-dash4.json"
must_fail "negative: dashboard with a fixed rate window" "fixed range [5m]" "$PY" "$HERE/dashboard_metrics.py" "$WORK/bad-dash4.json"
if [[ -n $BINARY ]]; then
  check "dashboard metrics exist in live /metrics ($BINARY)" "$PY" "$HERE/dashboard_metrics.py" "$DASH" --binary "$BINARY" --proto "$ROOT/proto/externalscaler.proto"
  check "nim-scaler serve accepts the chart's flags" "$PY" "$HERE/check_serve_args.py" "$BINARY" "${renders[@]}" "$WORK/render-readme.yaml"
  check "nim-scaler check accepts every keda/ trigger" "$PY" "$HERE/check_examples_binary.py" "$BINARY" "${examples[@]}"
  check "negative: nim-scaler check refuses a misspelled key" \
    "$PY" "$HERE/check_examples_binary.py" "$BINARY" --expect-invalid 'did you mean "targetKvCache"' \
    "$HERE/negative/scaledobject-unknown-trigger-key.yaml"
  check "image runtime packages cover the binary's libraries" "$PY" "$HERE/check_runtime_libs.py" "$BINARY" "$ROOT/scripts/install-deps.sh"
  sed 's/libgrpc++1.51 //' "$ROOT/scripts/install-deps.sh" >"$WORK/install-deps-bad.sh"
  must_fail "negative: runtime package list without gRPC" "package libgrpc++1.51" \
    "$PY" "$HERE/check_runtime_libs.py" "$BINARY" "$WORK/install-deps-bad.sh"
  sed 's/nimscaler_scrapes_total/nimscaler_scrape_total/' "$DASH" >"$WORK/bad-dash2.json"
  must_fail "negative: dashboard metric missing from live /metrics" "nimscaler_scrape_total: not exposed" \
    "$PY" "$HERE/dashboard_metrics.py" "$WORK/bad-dash2.json" --binary "$BINARY" --proto "$ROOT/proto/externalscaler.proto"
else
  check "dashboard metrics are documented scaler metrics (no --binary: not live)" "$PY" "$HERE/dashboard_metrics.py" "$DASH"
fi

# --- 7. Quickstart on kind (issue 15 item 4): deploy/quickstart/ --------------------------------
# Nothing here runs a cluster: the chart with values-kind.yaml, the manifests, the walkthrough's
# commands and the fake NIM's arguments are checked against the schemas, the chart, the Dockerfile
# and the real binaries.
QS="$ROOT/deploy/quickstart"
qs_manifests=()
for f in "$QS"/*.yaml; do case "$(basename "$f")" in values*) ;; *) qs_manifests+=("$f") ;; esac; done
check "helm lint --strict (quickstart values-kind)" "$HELM" lint --strict "$CHART" --namespace nim-scaler -f "$QS/values-kind.yaml"
qs_install() { # the README's helm install, as helm template
  local args=()
  mapfile -t args < <("$PY" "$HERE/check_quickstart.py" "$ROOT" --print-helm-install) || return 1
  ((${#args[@]} >= 2)) || { echo "could not read the quickstart's helm install"; return 1; }
  (cd "$ROOT" && "$HELM" template "${args[@]}") >"$WORK/render-quickstart.yaml"
}
check "quickstart README helm install renders" qs_install
check "schema: quickstart chart render" validate -q "$WORK/render-quickstart.yaml"
check "policy: quickstart chart render" "$PY" "$HERE/chart_assertions.py" "$CHART/values.yaml" "$QS/values-kind.yaml" "$WORK/render-quickstart.yaml" nim-scaler
check "schema: deploy/quickstart manifests (${#qs_manifests[@]} files)" validate "${qs_manifests[@]}"
check "lint: quickstart ScaledObject against its install" "$PY" "$HERE/lint_examples.py" --install "$WORK/render-quickstart.yaml" "${qs_manifests[@]}"
check "quickstart README: files, images, KEDA pin, namespaces, wiring" "$PY" "$HERE/check_quickstart.py" "$ROOT"
sed 's/--version 2\.20\.2/--version 2.16.0/' "$QS/README.md" >"$WORK/qs-readme-old-keda.md"
must_fail "negative: quickstart README pins KEDA 2.16" "nim-scaler needs 2.17 or newer" \
  "$PY" "$HERE/check_quickstart.py" "$ROOT" --readme "$WORK/qs-readme-old-keda.md"
sed 's/--target nim-emulator /--target emulator /' "$QS/README.md" >"$WORK/qs-readme-target.md"
must_fail "negative: quickstart README builds a stage that does not exist" "is not a stage of docker/Dockerfile" \
  "$PY" "$HERE/check_quickstart.py" "$ROOT" --readme "$WORK/qs-readme-target.md"
sed 's#apply -f deploy/quickstart/load.yaml#apply -f deploy/quickstart/loads.yaml#' "$QS/README.md" >"$WORK/qs-readme-path.md"
must_fail "negative: quickstart README applies a missing file" "deploy/quickstart/loads.yaml, which does not exist" \
  "$PY" "$HERE/check_quickstart.py" "$ROOT" --readme "$WORK/qs-readme-path.md"
sed 's/^kind load docker-image nim-scaler:quickstart /kind load docker-image /' "$QS/README.md" >"$WORK/qs-readme-load.md"
must_fail "negative: quickstart README does not load the scaler image" "image nim-scaler:quickstart is not loaded" \
  "$PY" "$HERE/check_quickstart.py" "$ROOT" --readme "$WORK/qs-readme-load.md"
sed 's/^kubectl -n quickstart get pods -w$/kubectl -n quickstart get hpa,pods -w/' "$QS/README.md" >"$WORK/qs-readme-watch.md"
must_fail "negative: quickstart README watches two resource types at once" "watches one resource type only" \
  "$PY" "$HERE/check_quickstart.py" "$ROOT" --readme "$WORK/qs-readme-watch.md"
sed 's#scalerAddress: nim-scaler-headless.nim-scaler.svc:9090#scalerAddress: nim-scaler.keda.svc:9090#' "$QS/scaledobject.yaml" >"$WORK/qs-so-address.yaml"
must_fail "negative: quickstart ScaledObject with another scalerAddress" "scalerAddress" \
  "$PY" "$HERE/lint_examples.py" --install "$WORK/render-quickstart.yaml" "$WORK/qs-so-address.yaml"
sed 's/targetKvCache: "0.1"/targetKvCache: 0.1/' "$QS/scaledobject.yaml" >"$WORK/qs-so-number.yaml"
must_fail "negative: quickstart ScaledObject with a number in metadata" "is not of type 'string'" validate "$WORK/qs-so-number.yaml"
if [[ -n $BINARY ]]; then
  check "nim-scaler check accepts the quickstart trigger" "$PY" "$HERE/check_examples_binary.py" "$BINARY" "${qs_manifests[@]}"
fi
if [[ -n $EMULATOR ]]; then
  check "quickstart fake NIM: the Deployment's args run on nim-emulator" "$PY" "$HERE/check_quickstart_emulator.py" "$EMULATOR" "$QS/fake-nim.yaml"
  sed 's/- --pod-port /- --pod-prot /' "$QS/fake-nim.yaml" >"$WORK/qs-fake-nim-flag.yaml"
  must_fail "negative: quickstart fake NIM with a misspelled flag" "unknown flag --pod-prot" \
    "$PY" "$HERE/check_quickstart_emulator.py" "$EMULATOR" "$WORK/qs-fake-nim-flag.yaml"
  sed 's/- --cold-start .*//' "$QS/fake-nim.yaml" >"$WORK/qs-fake-nim-warm.yaml"
  must_fail "negative: quickstart fake NIM ready before its startup delay" "expected 503 (loading) and then 200" \
    "$PY" "$HERE/check_quickstart_emulator.py" "$EMULATOR" "$WORK/qs-fake-nim-warm.yaml"
  check "quickstart load Job: its script wakes, loads and unloads a real nim-emulator" \
    "$PY" "$HERE/check_quickstart_load.py" "$EMULATOR" "$QS/load.yaml"
  sed 's/trap stop TERM INT/trap - TERM/' "$QS/load.yaml" >"$WORK/qs-load-notrap.yaml"
  must_fail "negative: quickstart load Job that leaves its users behind on SIGTERM" "after SIGTERM the pod still has" \
    "$PY" "$HERE/check_quickstart_load.py" "$EMULATOR" "$WORK/qs-load-notrap.yaml"
  check "emulator image runtime packages cover nim-emulator's libraries" "$PY" "$HERE/check_runtime_libs.py" "$EMULATOR" "$ROOT/scripts/install-deps.sh"
  # (libprometheus-cpp-pull1.0 depends on libcivetweb1: leave both out)
  printf 'runtime_pkgs=(libcurl4 ca-certificates)\n' >"$WORK/install-deps-nociv.sh"
  must_fail "negative: runtime package list without civetweb (nim-emulator)" "package libcivetweb1" \
    "$PY" "$HERE/check_runtime_libs.py" "$EMULATOR" "$WORK/install-deps-nociv.sh"
else
  check "quickstart fake NIM args (no --emulator: nim-emulator not built)" false
fi
# The image targets: a Dockerfile whose emulator stage copies a binary no CMake target builds.
sed 's#build/tools/nim-emulator /usr/local/bin/nim-emulator#build/tools/nim-emu /usr/local/bin/nim-emulator#' \
  "$ROOT/docker/Dockerfile" >"$WORK/fake/docker/Dockerfile"
must_fail "negative: Dockerfile copying a binary no CMake target builds" "no CMake target builds build/tools/nim-emu" \
  "$PY" "$HERE/check_dockerfile.py" "$WORK/fake"
sed 's#^COPY scripts/deps scripts/deps#COPY scripts/dep scripts/deps#' "$ROOT/docker/Dockerfile" >"$WORK/fake/docker/Dockerfile"
must_fail "negative: Dockerfile copying a missing file" "COPY scripts/dep: no such file" \
  "$PY" "$HERE/check_dockerfile.py" "$WORK/fake"
sed 's/^EXPOSE 8000 8001$/EXPOSE 8000/' "$ROOT/docker/Dockerfile" >"$WORK/fake/docker/Dockerfile"
mkdir -p "$WORK/fake/deploy/quickstart" && cp "$QS/fake-nim.yaml" "$WORK/fake/deploy/quickstart/"
must_fail "negative: emulator stage without the quickstart's control port" "does not EXPOSE 8001" \
  "$PY" "$HERE/check_dockerfile.py" "$WORK/fake"

# --- 8. Chart README and the config schema (issue 15 item 5) -----------------------------------
# The chart README's parameter tables are generated from values.yaml's `## @param` comments by
# @bitnami/readme-generator-for-helm (scripts/gen-chart-readme.sh installs it like install-helm.sh);
# the check regenerates a temporary copy and the tree is not touched.
check "chart README in step with values.yaml (readme-generator-for-helm)" "$ROOT/scripts/gen-chart-readme.sh" --check
mkdir -p "$WORK/chart-copy" && cp -r "$CHART" "$WORK/chart-copy/"
sed -i 's/^replicaCount: 2$/replicaCount: 3/' "$WORK/chart-copy/nim-scaler/values.yaml"
must_fail "negative: chart README after a default changed" "out of step with values.yaml" \
  "$ROOT/scripts/gen-chart-readme.sh" --check --chart "$WORK/chart-copy/nim-scaler"
printf 'undocumented: true\n' >>"$WORK/chart-copy/nim-scaler/values.yaml"
must_fail "negative: a value without a @param comment" "Missing metadata for key: undocumented" \
  "$ROOT/scripts/gen-chart-readme.sh" --check --chart "$WORK/chart-copy/nim-scaler"
# helm show readme prints the chart's README.md (helm adds one newline at the end).
show_readme() {
  "$HELM" show readme "$1" >"$WORK/show-readme.md" || return 1
  [[ -s "$WORK/show-readme.md" ]] || { echo "helm show readme $1 printed nothing"; return 1; }
  diff <(printf '%s\n' "$(cat "$WORK/show-readme.md")") <(printf '%s\n' "$(cat "$CHART/README.md")") \
    || { echo "helm show readme differs from $CHART/README.md"; return 1; }
  grep -q '^## Parameters' "$WORK/show-readme.md" || { echo "no Parameters section"; return 1; }
}
check "helm show readme prints the generated chart README" show_readme "$CHART"
check "helm show readme of the packaged chart" show_readme "$(ls "$WORK"/pkg/nim-scaler-*.tgz | head -1)"
# The config map's keys (values.schema.json) are exactly the serve flags of the binary.
if [[ -n $BINARY ]]; then
  check "values.schema.json config keys are the serve flags of $BINARY" "$PY" "$ROOT/scripts/gen-config-schema.py" "$BINARY" --check
  "$PY" -c 'import json, sys
s = json.load(open(sys.argv[1])); s["properties"]["config"]["propertyNames"]["enum"].remove("shutdown-grace")
s["properties"]["config"]["propertyNames"]["enum"].append("min-scrape-intervall")
json.dump(s, open(sys.argv[2], "w"))' "$CHART/values.schema.json" "$WORK/bad-schema.json"
  must_fail "negative: a schema whose config keys differ from the flags" "lack serve flags: shutdown-grace" \
    "$PY" "$ROOT/scripts/gen-config-schema.py" "$BINARY" --check --schema "$WORK/bad-schema.json"
fi

echo
if ((failed)); then
  echo "deploy checks failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
