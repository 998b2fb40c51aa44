#!/usr/bin/python3
"""Policy checks on the Helm chart's rendered output, beyond schema validity.

Usage: chart_assertions.py CHART_VALUES_YAML OVERRIDE_VALUES_YAML RENDERED_YAML RELEASE_NAMESPACE

Asserts what the issue promises for every configuration: a restricted securityContext, least RBAC,
probes that can work (gRPC only without TLS), the Services KEDA needs, a PodDisruptionBudget and
anti-affinity when there are several replicas, a NetworkPolicy that lets only the KEDA operator reach
gRPC, the TLS files wired to the flags, and the flags themselves. Exit 1 with one line per failure.
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
    known_flags = {"--grpc-addr", "--http-addr", "--config", "--log-format", "--log-level", "--tls-cert",
                   "--tls-key", "--tls-client-ca", "--allow-static-endpoints", "--kube-api", "--namespaces",
                   "--wake-token-file", "--min-scrape-interval", "--shutdown-grace"}
    extra = set(values["server"].get("extraArgs") or [])
    for flag in a:
        check(flag in known_flags or any(e.startswith(flag) for e in extra), f"unknown serve flag {flag}")

    # Namespaces and RBAC.
    watch = values.get("watchNamespaces") or []
    scope = values["rbac"]["scope"]
    expect_ns = watch or ([] if scope == "cluster" else [ns])
    check(a.get("--namespaces", "") == ",".join(expect_ns), f"--namespaces is {a.get('--namespaces')!r}, want {','.join(expect_ns)!r}")
    roles = by_kind.get("Role", []) + by_kind.get("ClusterRole", [])
    if values["rbac"]["create"]:
        if scope == "cluster":
            check(len(by_kind.get("ClusterRole", [])) == 1 and not by_kind.get("Role"), "cluster scope needs one ClusterRole and no Role")
            check(len(by_kind.get("ClusterRoleBinding", [])) == 1, "cluster scope needs one ClusterRoleBinding")
        else:
            check(not by_kind.get("ClusterRole") and not by_kind.get("ClusterRoleBinding"), "namespaced scope must not create cluster-wide RBAC")
            got = sorted(r["metadata"]["namespace"] for r in by_kind.get("Role", []))
            check(got == sorted(expect_ns), f"Roles in {got}, want {sorted(expect_ns)}")
            got = sorted(r["metadata"]["namespace"] for r in by_kind.get("RoleBinding", []))
            check(got == sorted(expect_ns), f"RoleBindings in {got}, want {sorted(expect_ns)}")
        for r in roles:
            for rule in r["rules"]:
                check(rule == {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
                      f"{r['kind']} {r['metadata']['name']} grants more than list/watch endpointslices: {rule}")
        sa = pod.get("serviceAccountName")
        for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", []):
            check(b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": ns}], f"{b['kind']} binds to the wrong subject")
    else:
        check(not roles, "rbac.create=false still renders roles")
    check(pod.get("automountServiceAccountToken") == (values["server"]["kubeApi"] != "off"),
          "service account token mounted without need (or missing while the API is used)")

    # Probes.
    tls = values["tls"]["enabled"]
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
    else:
        check(not any(k.startswith("--tls") for k in a), "TLS flags without tls.enabled")
        check(not by_kind.get("Certificate"), "Certificate rendered without tls.enabled")

    # Services.
    svcs = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    check(fullname in svcs, "no Service named like the release (scalerAddress <fullname>.<ns>.svc)")
    if fullname in svcs:
        check(svcs[fullname]["spec"].get("clusterIP") != "None", "main Service must have a ClusterIP")
    hl = f"{fullname}-headless"
    check((hl in svcs) == values["service"]["headless"]["enabled"], "headless Service does not follow service.headless.enabled")
    if hl in svcs:
        check(svcs[hl]["spec"].get("clusterIP") == "None", "headless Service has a ClusterIP")
        check(svcs[hl]["spec"].get("publishNotReadyAddresses") in (None, False), "headless Service publishes unready replicas")
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
            for rule in np["ingress"]:
                check(rule.get("from"), "an ingress rule without `from` opens a port to everyone")
                if any(p["port"] == "grpc" for p in rule["ports"]):
                    peers = rule["from"]
                    keda = values["networkPolicy"]["keda"]
                    check(len(peers) == 1 and peers[0].get("podSelector", {}).get("matchLabels") == keda["podLabels"]
                          and peers[0].get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": keda["namespace"]},
                          "gRPC port open to more than the KEDA operator")
            model_rule = np["egress"][0]
            check(sorted(p["port"] for p in model_rule["ports"]) == sorted(values["networkPolicy"]["modelPorts"]),
                  "egress to model pods does not use networkPolicy.modelPorts")
    else:
        check(not nps, "NetworkPolicy rendered while disabled")

    check(bool(by_kind.get("ServiceMonitor")) == values["serviceMonitor"]["enabled"], "ServiceMonitor does not follow serviceMonitor.enabled")

    if failures:
        for f in failures:
            print(f"FAIL {rendered}: {f}")
        return 1
    print(f"chart_assertions: {rendered}: all policies hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
