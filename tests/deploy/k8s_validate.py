#!/usr/bin/python3
"""Validate Kubernetes manifests offline against published schemas, strictly.

Schemas:
  * core Kubernetes kinds: the JSON schemas that the npm package `kubernetes-models` (4.3.1,
    Kubernetes 1.27 API) and `@kubernetes-models/apimachinery` publish in their `_schemas/*.js`
    files; prometheus-operator and cert-manager kinds from `@kubernetes-models/prometheus-operator`
    and `@kubernetes-models/cert-manager` (installed by scripts/install-helm.sh);
  * custom resources: `spec.versions[].schema.openAPIV3Schema` of every CRD file given with --crds
    (deploy/schemas/keda/ holds KEDA's, deploy/schemas/http-add-on/ the KEDA HTTP add-on's,
    deploy/schemas/gateway-api-inference-extension/ the InferencePool's).

Strict like the API server with field validation "Strict" (kubectl's default): an object schema
that lists properties rejects any other property unless it allows more (additionalProperties or
x-kubernetes-preserve-unknown-fields). OpenAPI's `nullable` and `x-kubernetes-int-or-string` are
translated to JSON Schema. CEL rules (x-kubernetes-validations) cannot be evaluated here; the ones
this project relies on are implemented in KNOWN_CEL_RULES, any other is reported as skipped.

Usage: k8s_validate.py --schemas DIR [--crds DIR]... FILE|- ...
Exit status: 0 all documents valid, 1 some document invalid, 2 usage or schema loading error.
"""
import argparse
import copy
import json
import os
import re
import sys

import jsonschema
import yaml

SCHEMA_RE = re.compile(r"^const schema = (\{.*?^\});$", re.S | re.M)
REGISTER_RE = re.compile(r'register\)\("([^"]+)", schema\)')
SCHEMA_ID_RE = re.compile(r'^const schemaId = "([^"]+)";', re.M)
REF_SUFFIX = "#"


def die(msg):
    print(f"k8s_validate: {msg}", file=sys.stderr)
    sys.exit(2)


def load_js_schemas(root):
    """Return {id: schema} from every .js file under root that embeds a JSON schema object."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".js"):
                continue
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            m = SCHEMA_RE.search(text)
            if not m:
                continue
            ident = REGISTER_RE.search(text) or SCHEMA_ID_RE.search(text)
            if not ident:
                continue
            try:
                found[ident.group(1)] = json.loads(m.group(1))
            except json.JSONDecodeError as e:
                die(f"cannot parse the schema in {path}: {e}")
    return found


def rewrite_refs(node):
    """'$ref': 'io.k8s...Foo#' -> '#/definitions/io.k8s...Foo' (in place)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            node["$ref"] = "#/definitions/" + ref[:-1] if ref.endswith(REF_SUFFIX) else "#/definitions/" + ref
        for v in node.values():
            rewrite_refs(v)
    elif isinstance(node, list):
        for v in node:
            rewrite_refs(v)


def openapi_to_jsonschema(node):
    """Translate OpenAPI v3 / Kubernetes extensions to JSON Schema draft 7 and make it strict."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(v) for v in node]
    if not isinstance(node, dict):
        return node
    # kubernetes-models writes optional references as oneOf [ref, null]; nulls are dropped from
    # documents before validation (the API server treats them as unset), so keep only the ref:
    # the errors then name the field that is wrong instead of "not valid under any schema".
    one = node.get("oneOf")
    if isinstance(one, list) and len(one) == 2 and {"type": "null"} in one and len(node) == 1:
        return openapi_to_jsonschema(next(b for b in one if b != {"type": "null"}))
    out = {}
    for k, v in node.items():
        if k in ("properties", "definitions", "patternProperties"):
            out[k] = {name: openapi_to_jsonschema(s) for name, s in v.items()}
        elif k in ("description", "example", "x-kubernetes-validations"):
            out[k] = v  # data, not schema
        else:
            out[k] = openapi_to_jsonschema(v)
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        t = out["type"]
        out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
    preserve = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


class Catalog:
    def __init__(self):
        self.defs = {}         # id -> JSON schema
        self.kinds = {}        # (apiVersion, kind) -> id
        self.cel = {}          # id -> [(json path list, rule, message)]

    def add_js_package(self, root):
        schemas = load_js_schemas(root)
        if not schemas:
            die(f"no schemas found under {root}")
        for ident, schema in schemas.items():
            rewrite_refs(schema)
            self.defs[ident] = openapi_to_jsonschema(schema)
            props = schema.get("properties", {})
            av = props.get("apiVersion", {}).get("enum", [])
            kd = props.get("kind", {}).get("enum", [])
            if len(av) == 1 and len(kd) == 1:
                self.kinds[(av[0], kd[0])] = ident

    def add_crd_file(self, path):
        with open(path, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                group, kind = spec["group"], spec["names"]["kind"]
                for ver in spec["versions"]:
                    schema = ver.get("schema", {}).get("openAPIV3Schema")
                    if not schema or not ver.get("served", True):
                        continue
                    api_version = f"{group}/{ver['name']}"
                    ident = f"crd.{group}.{ver['name']}.{kind}"
                    s = copy.deepcopy(schema)
                    props = s.setdefault("properties", {})
                    props["apiVersion"] = {"type": "string", "enum": [api_version]}
                    props["kind"] = {"type": "string", "enum": [kind]}
                    # The API server validates metadata as ObjectMeta, whatever the CRD says.
                    props["metadata"] = {"$ref": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta#"}
                    s.setdefault("required", [])
                    for r in ("apiVersion", "kind"):
                        if r not in s["required"]:
                            s["required"].append(r)
                    self.cel[ident] = list(collect_cel(schema, []))
                    rewrite_refs(s)
                    self.defs[ident] = openapi_to_jsonschema(s)
                    self.kinds[(api_version, kind)] = ident

    def validator(self, ident):
        return jsonschema.Draft7Validator({"$ref": "#/definitions/" + ident, "definitions": self.defs})


def collect_cel(node, path):
    if not isinstance(node, dict):
        return
    for rule in node.get("x-kubernetes-validations", []) or []:
        yield path, rule.get("rule", ""), rule.get("message", rule.get("rule", ""))
    for name, sub in (node.get("properties") or {}).items():
        yield from collect_cel(sub, path + [name])


def _has(obj, key):
    return isinstance(obj, dict) and key in obj


# CEL rules of the vendored CRDs, implemented by hand: rule text -> predicate(self).
KNOWN_CEL_RULES = {
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)":
        lambda s: not _has(s, "minReplicaCount")
        or s["minReplicaCount"] <= (s["maxReplicaCount"] if _has(s, "maxReplicaCount") else 100),
    # KEDA HTTP add-on (deploy/schemas/http-add-on/): HTTPScaledObject's scaleTargetRef and
    # coldStartTimeoutFailoverRef name a port by number or by name, exactly one of the two.
    "has(self.portName) != has(self.port)":
        lambda s: _has(s, "portName") != _has(s, "port"),
    # Gateway API Inference Extension (deploy/schemas/gateway-api-inference-extension/): an
    # InferencePool's endpointPickerRef of kind Service (the default kind) needs a port, and its
    # targetPorts are unique by number.
    "self.kind != 'Service' || has(self.port)":
        lambda s: s.get("kind", "Service") != "Service" or _has(s, "port"),
    "self.all(p1, self.exists_one(p2, p1.number==p2.number))":
        lambda s: all(sum(1 for q in s if isinstance(q, dict) and q.get("number") == p.get("number")) == 1
                      for p in s if isinstance(p, dict)),
}


def norm_rule(rule):
    return " ".join(rule.split())


def drop_nulls(node):
    if isinstance(node, dict):
        return {k: drop_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [drop_nulls(v) for v in node]
    return node


def describe(doc):
    md = doc.get("metadata") or {}
    ns = md.get("namespace")
    name = md.get("name", "<no name>")
    return f"{doc.get('kind', '<no kind>')}/{ns + '/' if ns else ''}{name}"


def validate_doc(cat, doc, skipped_cel):
    errors = []
    if not isinstance(doc, dict):
        return ["document is not a mapping"]
    doc = drop_nulls(doc)
    key = (doc.get("apiVersion"), doc.get("kind"))
    ident = cat.kinds.get(key)
    if ident is None:
        return [f"no schema for apiVersion={key[0]!r} kind={key[1]!r} (unknown or misspelled kind/apiVersion)"]
    for err in sorted(cat.validator(ident).iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in err.absolute_path) or "(root)"
        msg = err.message
        if err.validator == "additionalProperties" and err.validator_value is False:
            msg = msg.replace("Additional properties are not allowed", "unknown field(s)")
        if len(msg) > 300:
            msg = msg[:300] + "..."
        errors.append(f"{path}: {msg}")
    md = doc.get("metadata") or {}
    if not md.get("name") and not md.get("generateName"):
        errors.append("metadata: name is required")
    for path, rule, message in cat.cel.get(ident, []):
        target = doc
        for p in path:
            target = target.get(p) if isinstance(target, dict) else None
        if target is None:
            continue
        pred = KNOWN_CEL_RULES.get(norm_rule(rule))
        if pred is None:
            skipped_cel.add(rule)
            continue
        try:
            ok = pred(target)
        except TypeError:
            ok = True  # a type error is already reported by the schema
        if not ok:
            errors.append(f"{'/'.join(path) or '(root)'}: {message}")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schemas", required=True, help="tools schema dir from scripts/install-helm.sh")
    ap.add_argument("--crds", action="append", default=[], help="directory or file with CRD YAML")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    cat = Catalog()
    for pkg in ("kubernetes-models_apimachinery", "kubernetes-models",
                "kubernetes-models_prometheus-operator", "kubernetes-models_cert-manager"):
        root = os.path.join(args.schemas, pkg)
        if not os.path.isdir(root):
            die(f"missing schema package {root}: run scripts/install-helm.sh")
        cat.add_js_package(root)
    for c in args.crds:
        paths = [os.path.join(c, f) for f in sorted(os.listdir(c)) if f.endswith((".yaml", ".yml"))] \
            if os.path.isdir(c) else [c]
        for p in paths:
            cat.add_crd_file(p)

    total = bad = 0
    skipped_cel = set()
    for f in args.files:
        try:
            text = sys.stdin.read() if f == "-" else open(f, encoding="utf-8").read()
            docs = list(yaml.safe_load_all(text))
        except (OSError, yaml.YAMLError) as e:
            print(f"ERROR {f}: cannot read YAML: {e}")
            bad += 1
            total += 1
            continue
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            total += 1
            errs = validate_doc(cat, doc, skipped_cel)
            label = f"{f}[{i}] {describe(doc) if isinstance(doc, dict) else ''}"
            if errs:
                bad += 1
                for e in errs:
                    print(f"ERROR {label}: {e}")
            elif not args.quiet:
                print(f"ok    {label}")
    for rule in sorted(skipped_cel):
        print(f"note: CEL rule not evaluated offline: {rule}", file=sys.stderr)
    print(f"k8s_validate: {total - bad} valid, {bad} invalid documents")
    if total == 0:
        print("k8s_validate: no documents found", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
