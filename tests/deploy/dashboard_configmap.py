#!/usr/bin/python3
"""The chart's dashboard ConfigMap carries exactly deploy/grafana/nim-scaler.json (issue 14 item 3).

Usage: dashboard_configmap.py DASHBOARD_JSON RENDERED_YAML
RENDERED_YAML is `helm template` output with dashboard.configMap.enabled=true: it must hold one
ConfigMap labelled grafana_dashboard: "1" whose only data key is nim-scaler.json, byte-identical
(but for the final newline) to DASHBOARD_JSON, and valid JSON with the same uid.
"""
import json
import sys

import yaml


def main():
    dash_path, render_path = sys.argv[1], sys.argv[2]
    want = open(dash_path).read()
    docs = [d for d in yaml.safe_load_all(open(render_path)) if d]
    cms = [d for d in docs if d.get("kind") == "ConfigMap"
           and (d.get("metadata", {}).get("labels") or {}).get("grafana_dashboard") == "1"]
    if len(cms) != 1:
        print(f"want one ConfigMap labelled grafana_dashboard: \"1\", found {len(cms)}")
        return 1
    data = cms[0].get("data") or {}
    if list(data) != ["nim-scaler.json"]:
        print(f"the ConfigMap's data keys are {list(data)}, want ['nim-scaler.json']")
        return 1
    got = data["nim-scaler.json"]
    if got.rstrip("\n") != want.rstrip("\n"):
        for i, (a, b) in enumerate(zip(got.splitlines(), want.splitlines())):
            if a != b:
                print(f"line {i + 1} differs from {dash_path}:\n  chart: {a}\n  file:  {b}")
                break
        else:
            print(f"the ConfigMap's dashboard and {dash_path} differ in length")
        print("copy deploy/grafana/nim-scaler.json to deploy/helm/nim-scaler/dashboards/nim-scaler.json")
        return 1
    if json.loads(got).get("uid") != json.loads(want).get("uid"):
        print("uid differs")
        return 1
    print(f"ConfigMap {cms[0]['metadata']['name']} carries {dash_path} ({len(got)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
