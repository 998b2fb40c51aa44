#!/usr/bin/python3
"""Policy checks on the Helm chart's rendered output, beyond schema validity.

Usage: chart_assertions.py CHART_VALUES_YAML OVERRIDE_VALUES_YAML RENDERED_YAML RELEASE_NAMESPACE

Asserts what the issue promises for every configuration: a restricted securityContext, least RBAC,
probes that can work (gRPC only without TLS), the Services KEDA needs, a PodDisruptionBudget and
anti-affinity when there are several replicas, a NetworkPolicy that lets only the KEDA operator reach
gRPC, the TLS files wired to the flags, and the flags themselves. With several replicas and ha.enabled
(issue 12 item 6) the replicas are wired as peers: --peers-service names a headless Service with a port
named grpc that publishes only ready pods, --advertise-addr is $(POD_IP):<grpcPort> from the downward
API, RBAC lets the pods read the EndpointSlices of the release namespace, and the NetworkPolicy lets the
replicas reach each other's gRPC port. Exit 1 with one line per failure.
"""
import sys

import yaml

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def args_map(args):
    """['serve', '--a', 'x', '--b'] -> {'--a': 'x', '--b': True}"""
    out = {}
    i = 1 if args and args[0] == "serve" else 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            out[k] = v
            i += 1
        elif a.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[a] = args[i + 1]
            i += 2
        else:
            out[a] = True
            i += 1
    return out


def field_env(container):
    """{'POD_IP': 'status.podIP', ...} for env vars set from the downward API."""
    out = {}
    for e in container.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("fieldRef") or {}
        if ref.get("fieldPath"):
            out[e["name"]] = ref["fieldPath"]
    return out


def pod_volumes(pod):
    return {v["name"]: v for v in pod.get("volumes", [])}


def rbac_allows(by_kind, sa, sa_ns, ns, verbs):
    """True when the RBAC objects let ServiceAccount sa_ns/sa do every verb on discovery.k8s.io
    endpointslices in namespace ns (a Role bound there, or a ClusterRole bound cluster-wide or there)."""
    def grants(rules):
        have = set()
        for r in rules or []:
            if ("discovery.k8s.io" in r.get("apiGroups", []) or "*" in r.get("apiGroups", [])) and \
                    ("endpointslices" in r.get("resources", []) or "*" in r.get("resources", [])) and \
                    not r.get("resourceNames"):
                have |= set(r.get("verbs", []))
        return "*" in have or set(verbs) <= have

    def binds(b):
        return any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == sa_ns
                   for s in b.get("subjects") or [])

    roles = {(r["metadata"].get("namespace"), r["metadata"]["name"]): r for r in by_kind.get("Role", [])}
    croles = {r["metadata"]["name"]: r for r in by_kind.get("ClusterRole", [])}
    for b in by_kind.get("RoleBinding", []):
        if b["metadata"].get("namespace") != ns or not binds(b):
            continue
        ref = b["roleRef"]
        rules = (roles.get((ns, ref["name"])) if ref["kind"] == "Role" else croles.get(ref["name"])) or {}
        if grants(rules.get("rules")):
            return True
    for b in by_kind.get("ClusterRoleBinding", []):
        if binds(b) and b["roleRef"]["kind"] == "ClusterRole" and grants((croles.get(b["roleRef"]["name"]) or {}).get("rules")):
            return True
    return False


def main():
    chart_values, override, rendered, ns = sys.argv[1:5]
    values = merge(yaml.safe_load(open(chart_values)), yaml.safe_load(open(override)) or {})
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    deps = by_kind.get("Deployment", [])
    check(len(deps) == 1, f"expected one Deployment, got {len(deps)}")
    if not deps:
        return
    dep = deps[0]
    fullname = dep["metadata"]["name"]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    check(spec["replicas"] == values["replicaCount"], "Deployment replicas differ from replicaCount")
    check(spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "rollout may take a replica down first")
    grace = values["server"]["shutdownGraceSeconds"]
    check(pod.get("terminationGracePeriodSeconds", 30) >= values["preStopSleepSeconds"] + grace + 5,
          "terminationGracePeriodSeconds does not cover preStop sleep + shutdown grace")

    # Restricted pod security standard.
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot is not true")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile is not RuntimeDefault")
    check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, "pod runAsUser must be a non-zero UID")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        name = c["name"]
        check(sc.get("readOnlyRootFilesystem") is True, f"{name}: root filesystem is writable")
        check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation is not false")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities not dropped (ALL)")
        check(not sc.get("capabilities", {}).get("add"), f"{name}: adds capabilities")
        check(sc.get("privileged") in (None, False), f"{name}: privileged")
        res = c.get("resources", {})
        check("requests" in res and "memory" in res.get("limits", {}), f"{name}: resources need requests and a memory limit")
        check(any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])), f"{name}: no writable /tmp")

    c = pod["containers"][0]
    a = args_map(c["args"])
    check(c["args"][0] == "serve", "container does not run `nim-scaler serve`")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    grpc_port, http_port = values["server"]["grpcPort"], values["server"]["httpPort"]
    check(ports.get("grpc") == grpc_port and ports.get("http") == http_port, "container ports differ from server.*Port")
    check(a.get("--grpc-addr") == f":{grpc_port}", "--grpc-addr does not match server.grpcPort")
    check(a.get("--http-addr") == f":{http_port}", "--http-addr does not match server.httpPort")
    check(a.get("--kube-api") == values["server"]["kubeApi"], "--kube-api differs from server.kubeApi")
    check(a.get("--shutdown-grace") == f"{grace}s", "--shutdown-grace differs from server.shutdownGraceSeconds")
    check(("--allow-static-endpoints" in a) == bool(values["server"]["allowStaticEndpoints"]),
          "--allow-static-endpoints does not follow server.allowStaticEndpoints")
    check(a.get("--max-connection-age") == values["server"]["maxConnectionAge"],
          "--max-connection-age differs from server.maxConnectionAge")
    # Issue 14 item 5: the wake hook and /debug need a token unless the user turns it off; by
    # default the chart generates the Secret.
    wake = values["wake"]["tokenSecret"]
    wants_token = bool(wake["name"]) or wake.get("generate", False)
    check(("--wake-token-file" in a) == wants_token, "--wake-token-file does not follow wake.tokenSecret")
    generated = [s for s in by_kind.get("Secret", []) if s["metadata"]["name"].endswith("-wake-token")]
    check(bool(generated) == (not wake["name"] and wake.get("generate", False)),
          "the generated wake-token Secret does not follow wake.tokenSecret.name / generate")
    for s in generated:
        token = (s.get("data") or {}).get(wake["key"], "")
        check(len(token) >= 40, f"generated wake token is too short or missing under key {wake['key']}")
    # Issue 14 item 5: the Prometheus credentials follow prometheus.*; a Secret or ConfigMap is
    # mounted as a whole directory (a rotated token or CA reaches the server) where the flag points.
    prom = values.get("prometheus") or {}
    cargs = c["args"]
    headers = sorted(cargs[i + 1] for i in range(len(cargs) - 1) if cargs[i] == "--prometheus-header")
    want_headers = sorted(f"{k}: {v}" for k, v in (prom.get("headers") or {}).items())
    check(headers == want_headers, f"--prometheus-header values {headers} differ from prometheus.headers {want_headers}")
    pmounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    pvols = {v["name"]: v for v in pod.get("volumes", [])}

    def mounted(vol, kind, name, key, path):
        v = pvols.get(vol) or {}
        src = v.get(kind) or {}
        got_name = src.get("secretName") if kind == "secret" else src.get("name")
        m = pmounts.get(vol) or {}
        check(got_name == name and src.get("items") == [{"key": key, "path": "ca.crt" if vol.endswith("-ca") else "token"}],
              f"volume {vol} is not {kind} {name} key {key}: {v}")
        check(m.get("mountPath") == path and m.get("readOnly") is True and "subPath" not in m,
              f"volume {vol} is not mounted read-only as a directory at {path}: {m}")

    token_ref = prom.get("bearerTokenSecret") or {}
    if token_ref.get("name"):
        mounted("prometheus-token", "secret", token_ref["name"], token_ref.get("key", "token"),
                "/etc/nim-scaler/prometheus-token")
        want_token = "/etc/nim-scaler/prometheus-token/token"
    else:
        check("prometheus-token" not in pvols, "prometheus-token volume without prometheus.bearerTokenSecret.name")
        want_token = prom.get("bearerTokenFile") or None
    check(a.get("--prometheus-bearer-token-file") == want_token,
          f"--prometheus-bearer-token-file is {a.get('--prometheus-bearer-token-file')!r}, want {want_token!r}")
    ca_cm, ca_secret = prom.get("caConfigMap") or {}, prom.get("caSecret") or {}
    if ca_cm.get("name"):
        mounted("prometheus-ca", "configMap", ca_cm["name"], ca_cm.get("key", "ca.crt"), "/etc/nim-scaler/prometheus-ca")
    elif ca_secret.get("name"):
        mounted("prometheus-ca", "secret", ca_secret["name"], ca_secret.get("key", "ca.crt"), "/etc/nim-scaler/prometheus-ca")
    else:
        check("prometheus-ca" not in pvols, "prometheus-ca volume without prometheus.caConfigMap/caSecret")
    want_ca = "/etc/nim-scaler/prometheus-ca/ca.crt" if ca_cm.get("name") or ca_secret.get("name") else (prom.get("caFile") or None)
    check(a.get("--prometheus-ca-file") == want_ca,
          f"--prometheus-ca-file is {a.get('--prometheus-ca-file')!r}, want {want_ca!r}")
    known_flags = {"--grpc-addr", "--http-addr", "--config", "--log-format", "--log-level", "--tls-cert",
                   "--tls-key", "--tls-client-ca", "--allow-static-endpoints", "--kube-api", "--namespaces",
                   "--wake-token-file", "--min-scrape-interval", "--shutdown-grace", "--max-connection-age",
                   "--peers-service", "--peers-namespace", "--peers-port-name", "--advertise-addr",
                   "--peer-tls-server-name", "--peer-tls-ca", "--prometheus-url", "--prometheus-allow",
                   "--prometheus-bearer-token-file", "--prometheus-ca-file", "--prometheus-header"}
    extra = set(values["server"].get("extraArgs") or [])
    for flag in a:
        check(flag in known_flags or any(e.startswith(flag) for e in extra), f"unknown serve flag {flag}")

    tls = values["tls"]["enabled"]
    # Downward API (issue 12 item 6): the node's address for the address rule, always.
    fenv = field_env(c)
    check(fenv.get("NIM_SCALER_NODE_IP") == "status.hostIP", "NIM_SCALER_NODE_IP is not set from status.hostIP")

    # HA wiring (issue 12 item 6): replicas answer as one scaler only with ha.enabled and > 1 replica.
    ha = bool(values["ha"]["enabled"]) and values["replicaCount"] > 1
    hl = f"{fullname}-headless"
    peer_flags = ("--peers-service", "--peers-namespace", "--peers-port-name", "--advertise-addr", "--peer-tls-server-name",
                  "--peer-tls-ca")
    if ha:
        check(a.get("--peers-service") == hl, f"--peers-service is {a.get('--peers-service')!r}, want {hl!r}")
        check(a.get("--peers-namespace") == "$(POD_NAMESPACE)" and fenv.get("POD_NAMESPACE") == "metadata.namespace",
              "--peers-namespace is not $(POD_NAMESPACE) from the downward API's metadata.namespace")
        check(a.get("--peers-port-name", "grpc") == "grpc", "--peers-port-name is not the Service's port name grpc")
        check(a.get("--advertise-addr") == f"$(POD_IP):{grpc_port}" and fenv.get("POD_IP") == "status.podIP",
              f"--advertise-addr is {a.get('--advertise-addr')!r}, want $(POD_IP):{grpc_port} with POD_IP from status.podIP")
        if tls:
            check(bool(a.get("--peer-tls-server-name")), "HA with TLS but no --peer-tls-server-name")
        else:
            check("--peer-tls-server-name" not in a, "--peer-tls-server-name without TLS")
        # issue 12 item 3: with cert-manager, peers are checked against the issuing CA (ca.crt of
        # the mounted Secret), not the certificate file itself.
        if tls and values["tls"]["certManager"]["enabled"]:
            items = [i["key"] for i in (pod_volumes(pod).get("tls", {}).get("secret", {}).get("items") or [])]
            check(a.get("--peer-tls-ca") == "/etc/nim-scaler/tls/ca.crt" and "ca.crt" in items,
                  f"HA with cert-manager: --peer-tls-ca is {a.get('--peer-tls-ca')!r} (want the tls mount's ca.crt, "
                  f"mounted items {items})")
        else:
            check("--peer-tls-ca" not in a, "--peer-tls-ca without TLS and cert-manager")
    else:
        for f in peer_flags:
            check(f not in a, f"{f} set without HA (replicaCount {values['replicaCount']}, ha.enabled {values['ha']['enabled']})")

    # Namespaces and RBAC.
    watch = values.get("watchNamespaces") or []
    scope = values["rbac"]["scope"]
    expect_ns = watch or ([] if scope == "cluster" else [ns])
    check(a.get("--namespaces", "") == ",".join(expect_ns), f"--namespaces is {a.get('--namespaces')!r}, want {','.join(expect_ns)!r}")
    roles = by_kind.get("Role", []) + by_kind.get("ClusterRole", [])
    peers_role = f"{fullname}-peers"
    if values["rbac"]["create"]:
        # The peers' Role (HA) is checked below; these are the Roles for the watched namespaces.
        watch_roles = [r for r in by_kind.get("Role", []) if r["metadata"]["name"] != peers_role]
        watch_bindings = [b for b in by_kind.get("RoleBinding", []) if b["metadata"]["name"] != peers_role]
        if scope == "cluster":
            check(len(by_kind.get("ClusterRole", [])) == 1 and not watch_roles, "cluster scope needs one ClusterRole and no Role but the peers' one")
            check(len(by_kind.get("ClusterRoleBinding", [])) == 1, "cluster scope needs one ClusterRoleBinding")
        else:
            check(not by_kind.get("ClusterRole") and not by_kind.get("ClusterRoleBinding"), "namespaced scope must not create cluster-wide RBAC")
            got = sorted(r["metadata"]["namespace"] for r in watch_roles)
            check(got == sorted(expect_ns), f"Roles in {got}, want {sorted(expect_ns)}")
            got = sorted(r["metadata"]["namespace"] for r in watch_bindings)
            check(got == sorted(expect_ns), f"RoleBindings in {got}, want {sorted(expect_ns)}")
        for r in roles:
            is_peers = r["kind"] == "Role" and r["metadata"]["name"] == peers_role
            verbs = ["get", "list", "watch"] if is_peers else ["list", "watch"]
            allowed = [{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": verbs}]
            if not is_peers:
                # issue 12 item 4: the wake hook asks whether an untracked ScaledObject exists.
                allowed.append({"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": ["get"]})
                check(allowed[1] in r["rules"], f"{r['kind']} {r['metadata']['name']} cannot get scaledobjects.keda.sh")
                # issue 18 item 2: and whether a Service woken by name exists.
                allowed.append({"apiGroups": [""], "resources": ["services"], "verbs": ["get"]})
                check(allowed[2] in r["rules"], f"{r['kind']} {r['metadata']['name']} cannot get services")
            for rule in r["rules"]:
                check(rule in allowed,
                      f"{r['kind']} {r['metadata']['name']} grants more than {'/'.join(verbs)} endpointslices"
                      f"{'' if is_peers else ', get scaledobjects and get services'}: {rule}")
        peers_roles = [r for r in by_kind.get("Role", []) if r["metadata"]["name"] == peers_role]
        if ha:
            # issue 12 item 6: the replicas read their own headless Service's EndpointSlices.
            check(rbac_allows(by_kind, pod.get("serviceAccountName"), ns, ns, ["get", "list", "watch"]),
                  f"HA: RBAC does not let the scaler get/list/watch endpointslices in its namespace {ns}")
            check(len(peers_roles) == 1 and peers_roles[0]["metadata"]["namespace"] == ns,
                  f"HA: no Role {peers_role} in namespace {ns}")
        else:
            check(not peers_roles, f"Role {peers_role} rendered without HA")
        sa = pod.get("serviceAccountName")
        for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", []):
            check(b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": ns}], f"{b['kind']} binds to the wrong subject")
    else:
        check(not roles, "rbac.create=false still renders roles")
    check(pod.get("automountServiceAccountToken") == (values["server"]["kubeApi"] != "off"),
          "service account token mounted without need (or missing while the API is used)")

    # Probes.
    mode = values["probes"]["mode"]
    want = "httpGet" if (mode == "http" or (mode == "auto" and tls)) else "grpc"
    for p in ("startupProbe", "livenessProbe", "readinessProbe"):
        check(want in c.get(p, {}), f"{p} is not a {want} probe")
        if want == "grpc":
            check(c[p]["grpc"]["port"] == grpc_port, f"{p} probes port {c[p]['grpc']['port']}, not the gRPC port")
    if tls:
        check("grpc" not in c.get("livenessProbe", {}), "gRPC probe with TLS on: the kubelet cannot do TLS")

    # TLS wiring.
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    if tls:
        check(a.get("--tls-cert") == mounts.get("tls", "?") + "/tls.crt", "--tls-cert not in the tls mount")
        check(a.get("--tls-key") == mounts.get("tls", "?") + "/tls.key", "--tls-key not in the tls mount")
        check("subPath" not in str(c.get("volumeMounts")), "subPath mounts never see renewed certificates")
        if values["tls"]["clientAuth"]:
            check(a.get("--tls-client-ca") == mounts.get("client-ca", "?") + "/ca.crt", "--tls-client-ca not in the client-ca mount")
        else:
            check("--tls-client-ca" not in a, "--tls-client-ca set without clientAuth")
        if values["tls"]["certManager"]["enabled"]:
            certs = by_kind.get("Certificate", [])
            check(len(certs) == 1, "cert-manager enabled but no Certificate")
            if certs:
                check(certs[0]["spec"]["secretName"] == vols["tls"]["secret"]["secretName"], "Certificate writes another Secret than the pod mounts")
                names = set(certs[0]["spec"]["dnsNames"])
                for s in by_kind.get("Service", []):
                    check(f"{s['metadata']['name']}.{ns}.svc" in names, f"certificate lacks {s['metadata']['name']}.{ns}.svc")
                if ha:
                    check(a.get("--peer-tls-server-name") in names, "--peer-tls-server-name is not a name of the Certificate")
                    if values["tls"]["clientAuth"]:
                        check("client auth" in certs[0]["spec"].get("usages", []),
                              "HA with mTLS: replicas present the server certificate to peers, but it lacks client auth")
    else:
        check(not any(k.startswith("--tls") for k in a), "TLS flags without tls.enabled")
        check(not by_kind.get("Certificate"), "Certificate rendered without tls.enabled")

    # Services.
    svcs = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    check(fullname in svcs, "no Service named like the release (scalerAddress <fullname>.<ns>.svc)")
    if fullname in svcs:
        check(svcs[fullname]["spec"].get("clusterIP") != "None", "main Service must have a ClusterIP")
    check((hl in svcs) == (values["service"]["headless"]["enabled"] or ha),
          "headless Service does not follow service.headless.enabled (or HA, which needs it as --peers-service)")
    if hl in svcs:
        check(svcs[hl]["spec"].get("clusterIP") == "None", "headless Service has a ClusterIP")
        # Only ready replicas are peers (issue 12 item 6).
        check(svcs[hl]["spec"].get("publishNotReadyAddresses") in (None, False), "headless Service publishes unready replicas")
        check(any(p["name"] == "grpc" and p.get("targetPort") in ("grpc", grpc_port) for p in svcs[hl]["spec"]["ports"]),
              "headless Service has no port named grpc on the gRPC port (the peers' EndpointSlice port name)")
    for s in svcs.values():
        sel = s["spec"]["selector"]
        check(all(spec["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()), f"Service {s['metadata']['name']} selects no scaler pod")
        check({p["name"]: p["port"] for p in s["spec"]["ports"]} == {"grpc": grpc_port, "http": http_port}, f"Service {s['metadata']['name']} ports")

    # Availability.
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if values["replicaCount"] > 1 and values["podDisruptionBudget"]["enabled"]:
        check(len(pdbs) == 1, "several replicas but no PodDisruptionBudget")
    if values["replicaCount"] == 1:
        check(not pdbs, "a PodDisruptionBudget on one replica blocks node drains")
    aff = pod.get("affinity", {})
    if values["podAntiAffinity"] != "none" and not values.get("affinity"):
        check("podAntiAffinity" in aff, "no pod anti-affinity")

    # NetworkPolicy.
    nps = by_kind.get("NetworkPolicy", [])
    if values["networkPolicy"]["enabled"]:
        check(len(nps) == 1, "networkPolicy.enabled but no NetworkPolicy")
        if nps:
            np = nps[0]["spec"]
            check(sorted(np["policyTypes"]) == ["Egress", "Ingress"], "NetworkPolicy must restrict both directions")
            selector = spec["selector"]["matchLabels"]

            def is_replicas(peer):  # the chart's own pods, in the policy's namespace
                return set(peer) == {"podSelector"} and peer["podSelector"] == {"matchLabels": selector}

            keda_ok = replicas_in = False
            for rule in np["ingress"]:
                check(rule.get("from"), "an ingress rule without `from` opens a port to everyone")
                if any(p["port"] in ("grpc", grpc_port) for p in rule["ports"]):
                    peers = rule["from"]
                    keda = values["networkPolicy"]["keda"]
                    if len(peers) == 1 and is_replicas(peers[0]):
                        replicas_in = True
                        continue
                    keda_ok = True
                    check(len(peers) == 1 and peers[0].get("podSelector", {}).get("matchLabels") == keda["podLabels"]
                          and peers[0].get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": keda["namespace"]},
                          "gRPC port open to more than the KEDA operator (and, with HA, the other replicas)")
            check(keda_ok, "NetworkPolicy does not admit the KEDA operator to gRPC")
            replicas_out = any(any(is_replicas(t) for t in rule.get("to", [])) and
                               any(p["port"] in ("grpc", grpc_port) for p in rule.get("ports", []))
                               for rule in np["egress"])
            # issue 12 item 6: replicas forward calls to each other's gRPC port.
            check(replicas_in == ha, f"replica-to-replica gRPC ingress is {'missing' if ha else 'open without HA'}")
            check(replicas_out == ha, f"replica-to-replica gRPC egress is {'missing' if ha else 'open without HA'}")
            model_rule = np["egress"][0]
            check(sorted(p["port"] for p in model_rule["ports"]) == sorted(values["networkPolicy"]["modelPorts"]),
                  "egress to model pods does not use networkPolicy.modelPorts")
    else:
        check(not nps, "NetworkPolicy rendered while disabled")

    check(bool(by_kind.get("ServiceMonitor")) == values["serviceMonitor"]["enabled"], "ServiceMonitor does not follow serviceMonitor.enabled")
    check(bool(by_kind.get("PrometheusRule")) == values["prometheusRule"]["enabled"],
          "PrometheusRule does not follow prometheusRule.enabled")

    if failures:
        for f in failures:
            print(f"FAIL {rendered}: {f}")
        return 1
    print(f"chart_assertions: {rendered}: all policies hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
