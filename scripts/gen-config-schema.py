#!/usr/bin/python3
"""The chart's `config` map (deploy/helm/nim-scaler/values.yaml) becomes the `--config` JSON file of
`nim-scaler serve`, whose keys are the serve flag names without the dashes; any other key stops the
server at start-up. values.schema.json therefore lists exactly those names
(properties.config.propertyNames.enum), so a misspelled key fails `helm install` instead. This
script takes the list from the real binary: the `--name` lines of `nim-scaler serve --help`, minus
`config` itself (a config file cannot name another).

Usage: scripts/gen-config-schema.py BINARY            rewrite the list in values.schema.json
       scripts/gen-config-schema.py BINARY --check    exit 1 when the schema's list and the
                                                      binary's flags differ (tests/deploy/check.sh)
       [--schema PATH]                                another schema file (the checks' negative case)
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SCHEMA = os.path.join(ROOT, "deploy", "helm", "nim-scaler", "values.schema.json")
FLAG_LINE = re.compile(r"^\s{2}--([a-z][a-z0-9-]*)\b")


def serve_flags(binary):
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        sys.exit("%s serve --help exited %d: %s" % (binary, out.returncode, out.stderr.strip()[:300]))
    flags = [m.group(1) for m in map(FLAG_LINE.match, out.stdout.splitlines()) if m]
    if not flags:
        sys.exit("%s serve --help lists no --flag lines" % binary)
    return [f for f in flags if f != "config"]


def main(argv):
    args = argv[1:]
    schema_path = SCHEMA
    if "--schema" in args:
        i = args.index("--schema")
        schema_path = args[i + 1]
        del args[i:i + 2]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) != 1:
        sys.exit(__doc__)
    flags = serve_flags(args[0])
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    config = schema["properties"]["config"]
    if check:
        have = (config.get("propertyNames") or {}).get("enum") or []
        missing = [f for f in flags if f not in have]
        extra = [k for k in have if k not in flags]
        if missing or extra:
            if missing:
                print("values.schema.json config keys lack serve flags: %s" % ", ".join(missing))
            if extra:
                print("values.schema.json config keys that are no serve flag: %s" % ", ".join(extra))
            print("run scripts/gen-config-schema.py %s" % args[0])
            return 1
        print("ok: values.schema.json config accepts exactly the %d serve flags of %s" % (len(flags), args[0]))
        return 0
    config["propertyNames"] = {"enum": flags}
    with open(schema_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    print("values.schema.json: config accepts the %d serve flags of %s" % (len(flags), args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
