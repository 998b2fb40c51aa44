#!/usr/bin/python3
"""Checks of the keda/ examples that the schemas cannot make.

Usage: lint_examples.py --install RENDERED_INSTALL_YAML FILE...

RENDERED_INSTALL_YAML is the chart rendered with an install command: the one of
docs/install.md "Install with Helm", or another (e.g. the quickstart's). A nim-scaler trigger is
one of type external or external-push whose scalerAddress host contains "nim-scaler", the rule
`nim-scaler check -f` uses; another scaler's trigger in the same ScaledObject (the KEDA HTTP
add-on's in keda/http-add-on.yaml) is skipped with a note. For every nim-scaler trigger in FILE:
  * scalerAddress must be <Service>.<namespace>.svc:<grpc port> of a Service of that install, so a
    copied example reaches the scaler that command installed;
  * every metadata key must be one nim-scaler accepts (the scaler refuses unknown keys);
  * values must parse: numbers for targets and quantiles, durations for windows and latency targets,
    a known engine, one discovery source (service, dnsName or endpoints);
  * the ScaledObject's namespace must be served by the install (--namespaces), unless
    --any-namespace is given;
  * an authenticationRef must name a TriggerAuthentication defined in the same file;
  * a KEDA HTTP add-on trigger (metadata httpScaledObject) must name an HTTPScaledObject of the
    same file and namespace that carries httpscaledobject.keda.sh/skip-scaledobject-creation:
    "true"; without it the add-on's operator makes a second ScaledObject for the same Deployment
    (docs/front-doors.md "KEDA HTTP add-on");
  * metricType, when given, must be AverageValue (issue 15 item 6): nim-scaler reports the desired
    replica count, and with Value the HPA multiplies it by the ready pods
    (docs/formula.md "The value KEDA gets").
"""
import argparse
import os
import re
import sys

import yaml

# Trigger metadata keys: the table of docs/trigger-reference.md (generated from the binary, and a
# test keeps it so), plus the keys KEDA itself consumes.
def reference_keys():
    doc = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                            "trigger-reference.md")).read()
    table = doc[doc.index("<!-- metadata-reference"):doc.index("<!-- end metadata-reference")]
    return {m.group(1) for m in re.finditer(r"^\| `([A-Za-z0-9_.]+)`", table, re.MULTILINE)}


KEYS = reference_keys() | {"scalerAddress", "enableTLS", "unsafeSsl", "caCert"}
ENGINES = {"nim", "vllm", "sglang", "tgi", "triton", "trtllm", "auto"}
NUMBER_KEYS = {"targetKvCache", "targetWaiting", "targetRunning", "targetRequestRate", "latencyQuantile",
               "panicThreshold"}
DURATION_KEYS = {"targetTtft", "targetItl", "targetE2e", "window", "panicWindow", "scrapeInterval", "wakeHold",
                 "startupTime"}
DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
BOOL_KEYS = {"enableTLS", "unsafeSsl", "insecureSkipVerify"}


def suggest(key):
    import difflib
    m = difflib.get_close_matches(key, sorted(KEYS), n=1, cutoff=0.6)
    return f" (did you mean '{m[0]}'?)" if m else ""


# The KEDA HTTP add-on's annotation that stops its operator from making a ScaledObject
# (kedacore/http-add-on v0.15.0, operator/controllers/http/app.go).
SKIP_SO_ANNOTATION = "httpscaledobject.keda.sh/skip-scaledobject-creation"


def names_nim_scaler(address):
    """True when a scalerAddress's host part contains "nim-scaler" (scaler/app/check.cc PointsAtNimScaler)."""
    a = str(address or "")
    a = a.split("://", 1)[1] if "://" in a else a
    a = a.rsplit(":", 1)[0] if ":" in a else a
    return "nim-scaler" in a.lower()


def install_facts(path):
    addresses, namespaces = set(), None
    for d in yaml.safe_load_all(open(path)):
        if not d:
            continue
        if d["kind"] == "Service":
            for p in d["spec"]["ports"]:
                if p["name"] == "grpc":
                    addresses.add(f"{d['metadata']['name']}.{d['metadata']['namespace']}.svc:{p['port']}")
        if d["kind"] == "Deployment":
            args = d["spec"]["template"]["spec"]["containers"][0]["args"]
            if "--namespaces" in args:
                namespaces = set(args[args.index("--namespaces") + 1].split(","))
    return addresses, namespaces


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--install", required=True)
    ap.add_argument("--any-namespace", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    addresses, namespaces = install_facts(args.install)
    if not addresses:
        print("lint_examples: the install renders no Service with a grpc port")
        return 1

    errors, notes = [], []
    n_triggers = 0
    for f in args.files:
        docs = [d for d in yaml.safe_load_all(open(f)) if d]
        auths = {d["metadata"]["name"] for d in docs if d.get("kind") == "TriggerAuthentication"}
        httpsos = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs
                   if d.get("kind") == "HTTPScaledObject"}
        for d in docs:
            if d.get("kind") != "ScaledObject":
                continue
            so = f"{f}: ScaledObject {d['metadata'].get('namespace', '?')}/{d['metadata']['name']}"
            ns = d["metadata"].get("namespace")
            if not ns:
                errors.append(f"{so}: give metadata.namespace, the scaler serves listed namespaces only")
            elif namespaces is not None and ns not in namespaces and not args.any_namespace:
                errors.append(f"{so}: namespace {ns} is not served by the --install chart (--namespaces {','.join(sorted(namespaces))})")
            for i, t in enumerate(d["spec"]["triggers"]):
                if t["type"] not in ("external", "external-push"):
                    continue
                md = t.get("metadata", {})
                if "httpScaledObject" in md:
                    hso = httpsos.get((ns, md["httpScaledObject"]))
                    if hso is None:
                        errors.append(f"{so} trigger {i}: httpScaledObject {md['httpScaledObject']!r} is not an "
                                      f"HTTPScaledObject of namespace {ns} in this file")
                    elif (hso["metadata"].get("annotations") or {}).get(SKIP_SO_ANNOTATION) != "true":
                        errors.append(f"{so} trigger {i}: HTTPScaledObject {md['httpScaledObject']} lacks "
                                      f"{SKIP_SO_ANNOTATION}: \"true\", so the add-on makes a second "
                                      "ScaledObject for the same workload")
                if not names_nim_scaler(md.get("scalerAddress")):
                    notes.append(f"{so} trigger {i}: scalerAddress {md.get('scalerAddress')!r} is another "
                                 "scaler's, skipped")
                    continue
                n_triggers += 1
                where = f"{so} trigger {i}"
                addr = md.get("scalerAddress")
                if addr not in addresses:
                    errors.append(f"{where}: scalerAddress '{addr}' is not a Service of the documented install "
                                  f"({', '.join(sorted(addresses))})")
                for k, v in md.items():
                    if k in KEYS or k.startswith("signal.") or k.endswith("FromEnv"):
                        pass
                    else:
                        errors.append(f"{where}: unknown trigger metadata key '{k}'{suggest(k)}")
                        continue
                    if k in NUMBER_KEYS:
                        try:
                            x = float(v)
                            if not x > 0:
                                raise ValueError
                        except ValueError:
                            errors.append(f"{where}: {k} must be a positive number, got {v!r}")
                    if k in DURATION_KEYS and not DURATION_RE.match(str(v)):
                        errors.append(f"{where}: {k} must be a duration like 500ms or 2s, got {v!r}")
                    if k in BOOL_KEYS and str(v) not in ("true", "false"):
                        errors.append(f"{where}: {k} must be \"true\" or \"false\"")
                if md.get("engine", "auto") not in ENGINES:
                    errors.append(f"{where}: engine {md.get('engine')!r} is not one of {sorted(ENGINES)}")
                sources = [k for k in ("service", "dnsName", "endpoints") if k in md]
                if len(sources) != 1:
                    errors.append(f"{where}: give exactly one of service, dnsName, endpoints (got {sources})")
                if "latencyQuantile" in md and not 0 < float(md["latencyQuantile"]) < 1:
                    errors.append(f"{where}: latencyQuantile must be in (0, 1)")
                ref = t.get("authenticationRef")
                if ref and ref.get("kind", "TriggerAuthentication") == "TriggerAuthentication" and ref["name"] not in auths:
                    errors.append(f"{where}: authenticationRef {ref['name']} is not defined in this file")
                if t.get("metricType", "AverageValue") != "AverageValue":
                    errors.append(f"{where}: metricType {t['metricType']!r}: use AverageValue (the default); "
                                  "nim-scaler reports the desired replica count, and with Value the HPA "
                                  "multiplies it by the number of ready pods")
                if "wakeQuery" in md and "prometheusAddress" not in md:
                    errors.append(f"{where}: wakeQuery needs prometheusAddress")
                if t["type"] == "external" and d["spec"].get("minReplicaCount", 0) == 0 and "wakeQuery" in md:
                    errors.append(f"{where}: scale-to-zero with a wake source needs type external-push for an instant wake")
    for n in notes:
        print(f"note: {n}")
    for e in errors:
        print(f"ERROR {e}")
    print(f"lint_examples: {n_triggers} nim-scaler triggers, {len(errors)} problems")
    if n_triggers == 0:
        print("lint_examples: no nim-scaler trigger found")
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
