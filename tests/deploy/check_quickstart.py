#!/usr/bin/python3
"""The kind walkthrough (deploy/quickstart/README.md) refers only to what exists (issue 15 item 4).

Usage: check_quickstart.py REPO_ROOT [--readme FILE] [--print-helm-install]
  --readme FILE  check FILE instead of deploy/quickstart/README.md (negative tests)

No cluster runs here, so the walkthrough's commands are checked against the repository:
  * every repository path the README names (in backquotes or after -f) exists, and every
    `kubectl apply|delete|create -f` and `helm ... -f` file exists; no `kubectl get -w` names
    several resource types (kubectl refuses to watch them);
  * every `docker build` uses docker/Dockerfile; its --target is a stage of it (none: the last
    stage); every image the manifests and values-kind.yaml run is built by one of those commands
    from the stage whose ENTRYPOINT is the binary that image must hold (nim-scaler for the chart,
    nim-emulator for the fake NIM), and loaded by `kind load docker-image` into the cluster
    `kind create cluster` made;
  * the KEDA chart is pinned (`--version`) to KEDA 2.17 or newer and to the release named in
    deploy/schemas/keda/SOURCES.md (the CRDs the manifests are validated against);
  * every namespace a kubectl or helm command names is created by a manifest or a helm install;
  * the pieces fit: the ScaledObject's target is the Deployment, its `service` and `port` a Service
    and port of it, its `model` and `engine` the emulator's --model and --engine, its namespace one
    values-kind.yaml watches; the load Job's wake URL is the chart Service's HTTP port and the
    ScaledObject's wake path, its control port the emulator's --control-port, and the chart's
    NetworkPolicy admits the Job's namespace to the HTTP port, with no wake token to send.
With --print-helm-install, prints the arguments of the README's nim-scaler `helm install` (after the
<!-- quickstart-install --> marker) one per line, for `helm template`, and checks nothing else.
"""
import os
import re
import shlex
import sys

import yaml

QDIR = "deploy/quickstart"


def commands(text):
    """Every shell command of the README's sh blocks, continuations joined, comments dropped."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                try:
                    out.append(shlex.split(line, comments=True))
                except ValueError as e:
                    out.append(["<unparsable>", line, str(e)])
    return out


def opt(cmd, *names):
    for i, a in enumerate(cmd):
        for n in names:
            if a == n and i + 1 < len(cmd):
                return cmd[i + 1]
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def opts(cmd, *names):
    return [cmd[i + 1] for i, a in enumerate(cmd) if a in names and i + 1 < len(cmd)]


def load_docs(root):
    docs = []
    for f in sorted(os.listdir(os.path.join(root, QDIR))):
        if f.endswith(".yaml") and not f.startswith("values"):
            for d in yaml.safe_load_all(open(os.path.join(root, QDIR, f), encoding="utf-8")):
                if d:
                    docs.append((f, d))
    return docs


def dockerfile_stages(root):
    """[(name or None, entrypoint list or None)] in order."""
    stages = []
    for raw in open(os.path.join(root, "docker/Dockerfile"), encoding="utf-8"):
        line = raw.strip()
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            stages.append([m.group(1), None])
        m = re.match(r"ENTRYPOINT\s+(\[.*\])", line, re.I)
        if m and stages:
            stages[-1][1] = yaml.safe_load(m.group(1))
    return stages


def helm_install(text):
    m = re.search(r"<!-- quickstart-install -->\s*```sh\n(.*?)```", text, re.S)
    if not m:
        return None
    cmd = shlex.split(m.group(1).replace("\\\n", " ").splitlines()[0], comments=True)
    return cmd if cmd[:2] == ["helm", "install"] else None


def main():
    root = sys.argv[1]
    readme_path = os.path.join(root, QDIR, "README.md")
    if "--readme" in sys.argv:
        readme_path = sys.argv[sys.argv.index("--readme") + 1]
    text = open(readme_path, encoding="utf-8").read()
    if "--print-helm-install" in sys.argv:
        cmd = helm_install(text)
        if not cmd:
            sys.exit("no `helm install` after <!-- quickstart-install --> in " + readme_path)
        print("\n".join(a for a in cmd[2:] if a not in ("--create-namespace", "--wait", "--atomic")))
        return 0
    errors = []
    cmds = commands(text)
    for c in cmds:
        if c[0] == "<unparsable>":
            errors.append(f"cannot parse `{c[1]}`: {c[2]}")

    # 1. Paths.
    named = set(re.findall(r"`((?:deploy|docker|tools|tests|scripts|keda|docs|build)/[^`\s]*)`", text))
    for c in cmds:
        # -f is a file for kubectl apply/create/delete, helm and nim-scaler check (not `logs -f`);
        # a path starting with / is inside a container.
        if (c[:1] == ["kubectl"] and set(c) & {"apply", "create", "delete"}) or c[:1] == ["helm"] \
                or "check" in c:
            named |= {p for p in opts(c, "-f", "--filename", "--values") if not p.startswith("/")}
        if c[:2] in (["helm", "install"], ["helm", "upgrade"]) and len(c) > 3 and c[3].startswith("deploy/"):
            named.add(c[3])
    for p in sorted(named):
        if p.startswith("build/"):
            continue  # made by `make build`; checked by the commands that use it
        if not os.path.exists(os.path.join(root, p.rstrip("/"))):
            errors.append(f"names {p}, which does not exist")
    applied = [p for c in cmds if c[:1] == ["kubectl"] and set(c) & {"apply", "create", "delete"}
               for p in opts(c, "-f", "--filename")]
    if not any(p.endswith("fake-nim.yaml") for p in applied) or not any(p.endswith("scaledobject.yaml") for p in applied):
        errors.append(f"the README applies {applied}: it must apply fake-nim.yaml and scaledobject.yaml")
    for f in sorted(os.listdir(os.path.join(root, QDIR))):
        if f.endswith(".yaml") and not f.startswith("values") and f"{QDIR}/{f}" not in applied:
            errors.append(f"{QDIR}/{f} is never applied by the README")

    # kubectl refuses to watch several resource types at once ("watch is only supported on
    # individual resources and resource collections").
    for c in cmds:
        if c[:2] == ["kubectl", "get"] or (c[:1] == ["kubectl"] and "get" in c):
            if set(c) & {"-w", "--watch", "--watch-only"} and any("," in a for a in c if not a.startswith("-")):
                errors.append(f"`{' '.join(c)}`: kubectl get -w watches one resource type only")

    # 2. Images: built from the right stage, loaded into the cluster that was created.
    stages = dockerfile_stages(root)
    names = [s[0] for s in stages]
    built = {}
    for c in cmds:
        if c[:2] != ["docker", "build"]:
            continue
        if opt(c, "-f", "--file") != "docker/Dockerfile":
            errors.append(f"`{' '.join(c)}` does not use docker/Dockerfile")
        target = opt(c, "--target")
        if target is not None and target not in names:
            errors.append(f"--target {target} is not a stage of docker/Dockerfile ({names})")
            continue
        stage = stages[names.index(target)] if target else stages[-1]
        for tag in opts(c, "-t", "--tag"):
            built[tag] = stage[1][0] if stage[1] else None
    cluster = next((opt(c, "--name") for c in cmds if c[:3] == ["kind", "create", "cluster"]), None)
    if not cluster:
        errors.append("no `kind create cluster --name ...`")
    loaded = set()
    for c in cmds:
        if c[:3] == ["kind", "load", "docker-image"]:
            if opt(c, "--name") != cluster:
                errors.append(f"`{' '.join(c)}` loads into {opt(c, '--name')}, not the cluster {cluster}")
            loaded |= {a for a in c[3:] if not a.startswith("-") and a != opt(c, "--name")}
    values = yaml.safe_load(open(os.path.join(root, QDIR, "values-kind.yaml"), encoding="utf-8"))
    img = values.get("image", {})
    wanted = {f"{img.get('repository')}:{img.get('tag')}": "/usr/local/bin/nim-scaler"}
    docs = load_docs(root)
    for f, d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec") or {}
        for c in spec.get("containers", []):
            binary = (c.get("command") or [None])[0]
            wanted[c["image"]] = binary if binary and not binary.startswith("/bin/") else "/usr/local/bin/nim-emulator"
            if c.get("imagePullPolicy") != "Never":
                errors.append(f"{f}: container {c['name']} must use imagePullPolicy: Never (a loaded local image)")
    if img.get("pullPolicy") != "Never":
        errors.append("values-kind.yaml: image.pullPolicy must be Never (a loaded local image)")
    for image, binary in sorted(wanted.items()):
        if image not in built:
            errors.append(f"image {image} is run but no `docker build -t {image}` makes it")
        elif built[image] != binary:
            errors.append(f"image {image} is built from a stage whose ENTRYPOINT is {built[image]}, not {binary}")
        if image not in loaded:
            errors.append(f"image {image} is not loaded with `kind load docker-image`")

    # 3. KEDA pinned to the release the CRDs come from.
    keda = [c for c in cmds if c[:2] == ["helm", "install"] and len(c) > 3 and c[3] == "kedacore/keda"]
    sources = open(os.path.join(root, "deploy/schemas/keda/SOURCES.md"), encoding="utf-8").read()
    m = re.search(r"release v(\d+\.\d+\.\d+)", sources)
    if not keda:
        errors.append("no `helm install ... kedacore/keda`")
    else:
        version = opt(keda[0], "--version")
        if not version:
            errors.append("the KEDA install is not pinned with --version")
        else:
            if tuple(int(x) for x in version.split(".")[:2]) < (2, 17):
                errors.append(f"KEDA {version}: nim-scaler needs 2.17 or newer")
            if m and version != m.group(1):
                errors.append(f"KEDA {version} is not the release of the vendored CRDs, {m.group(1)} "
                              "(deploy/schemas/keda/SOURCES.md)")
        if opt(keda[0], "--namespace", "-n") != "keda":
            errors.append("KEDA must go to namespace keda (the chart's NetworkPolicy admits keda-operator there)")

    # 4. Namespaces.
    made = {d["metadata"]["name"] for _, d in docs if d["kind"] == "Namespace"}
    made |= {opt(c, "--namespace", "-n") for c in cmds if c[:2] == ["helm", "install"]}
    for c in cmds:
        ns = opt(c, "--namespace", "-n") if c[:1] in (["kubectl"], ["helm"]) else None
        if ns and ns not in made:
            errors.append(f"`{' '.join(c)}` uses namespace {ns}, which nothing creates")
    for f, d in docs:
        ns = d["metadata"].get("namespace")
        if d["kind"] != "Namespace" and ns not in made:
            errors.append(f"{f}: {d['kind']} {d['metadata']['name']} in namespace {ns}, which nothing creates")

    # 5. The pieces fit.
    def one(kind, name=None):
        return next((d for _, d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)), None)

    so, dep, job = one("ScaledObject"), one("Deployment"), one("Job")
    if not (so and dep and job):
        errors.append("need a ScaledObject, a Deployment and a Job in deploy/quickstart/")
    else:
        ns = so["metadata"]["namespace"]
        if so["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"] or dep["metadata"]["namespace"] != ns:
            errors.append("the ScaledObject does not target the Deployment")
        trig = next(t["metadata"] for t in so["spec"]["triggers"] if t["type"] in ("external", "external-push"))
        svc = one("Service", trig.get("service"))
        c = dep["spec"]["template"]["spec"]["containers"][0]
        args = [str(a) for a in c.get("args", [])]
        if not svc or svc["metadata"]["namespace"] != ns:
            errors.append(f"trigger service {trig.get('service')} is not a Service in {ns}")
        elif trig.get("port") not in [str(p["port"]) for p in svc["spec"]["ports"]] + [p.get("name") for p in svc["spec"]["ports"]]:
            errors.append(f"trigger port {trig.get('port')} is not a port of Service {svc['metadata']['name']}")
        elif svc["spec"]["selector"].items() > dep["spec"]["template"]["metadata"]["labels"].items():
            errors.append(f"Service {svc['metadata']['name']} does not select the Deployment's pods")
        for key, flag in (("model", "--model"), ("engine", "--engine")):
            if flag in args and trig.get(key) != args[args.index(flag) + 1]:
                errors.append(f"trigger {key} {trig.get(key)} is not the emulator's {flag} {args[args.index(flag) + 1]}")
        if ns not in values.get("watchNamespaces", []):
            errors.append(f"values-kind.yaml watchNamespaces does not list {ns}")
        env = {e["name"]: e.get("value", "") for e in job["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        script = " ".join(job["spec"]["template"]["spec"]["containers"][0].get("args", []))
        chart = yaml.safe_load(open(os.path.join(root, "deploy/helm/nim-scaler/values.yaml"), encoding="utf-8"))
        http = (values.get("server") or {}).get("httpPort", chart["server"]["httpPort"])
        release = next((c[2] for c in cmds if c[:2] == ["helm", "install"] and c[3:4] == ["deploy/helm/nim-scaler"]), None)
        rel_ns = next((opt(c, "--namespace", "-n") for c in cmds if c[:2] == ["helm", "install"] and c[3:4] == ["deploy/helm/nim-scaler"]), None)
        want = f"http://{release}.{rel_ns}.svc:{http}/v1/wake/{ns}/{so['metadata']['name']}"
        if env.get("WAKE_URL") != want:
            errors.append(f"load Job WAKE_URL {env.get('WAKE_URL')} is not the installed chart's wake hook {want}")
        control = args[args.index("--control-port") + 1] if "--control-port" in args else None
        if not control or f":{control}/load" not in script.replace("$ip", ""):
            errors.append(f"the load Job does not POST /load to the emulator's --control-port {control}")
        pods = env.get("PODS", "").split(".")
        if not one("Service", pods[0]) or one("Service", pods[0])["spec"].get("clusterIP") != "None":
            errors.append(f"load Job PODS {env.get('PODS')} is not a headless Service (DNS must list every ready pod)")
        wake = values.get("wake", {}).get("tokenSecret", {})
        if wake.get("generate", True) or wake.get("name"):
            errors.append("values-kind.yaml sets a wake token, which the load Job does not send")
        peers = (values.get("networkPolicy") or {}).get("httpFrom", [])
        if not any(((p.get("namespaceSelector") or {}).get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                   == job["metadata"]["namespace"] for p in peers):
            errors.append(f"values-kind.yaml networkPolicy.httpFrom does not admit namespace {job['metadata']['namespace']} (the load Job)")

    for e in errors:
        print(f"ERROR {QDIR}/README.md: {e}")
    print(f"check_quickstart: {len(cmds)} commands, {len(wanted)} images: {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
