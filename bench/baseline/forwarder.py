#!/usr/bin/python3
"""Baseline for bench/forwarder: the event forwarder as the original design describes it.

The kubernetes Python client's watch on PersistentVolumes (core/v1) and VolumeSnapshots
(snapshot.storage.k8s.io/v1), one thread each, and one requests.post per event to the webhook
with the Bearer token. The body has the same fields `ocpv-dr forward` sends (kind, apiVersion,
type, resource, cluster, id, observedAt, initial), so both forwarders do the same work per event.

What it does NOT do (and `ocpv-dr forward` does): no spool, no checkpoint, no retry beyond what
requests does, no ordering guarantee across a restart; a restart replays every object as ADDED.
It exists to be measured, not deployed.

Run it with Debian's interpreter (python3-kubernetes, python3-requests):
  /usr/bin/python3 bench/baseline/forwarder.py --kubeconfig K --webhook-url URL --token-file F
"""
import argparse
import datetime
import json
import os
import signal
import sys
import threading

import requests
from kubernetes import client, config, watch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--token-file")
    parser.add_argument("--cluster", default="primary")
    parser.add_argument("--storage-class", action="append", default=[])
    args = parser.parse_args()

    config.load_kube_config(config_file=args.kubeconfig)
    token = ""
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    else:
        token = os.environ.get("OCPVDR_WEBHOOK_TOKEN", "")
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}

    api = client.ApiClient()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)

    def post(kind, api_version, event_type, obj):
        meta = obj.get("metadata") or {}
        body = {
            "id": "%s:%s:%s" % (meta.get("uid"), meta.get("resourceVersion"), event_type),
            "kind": kind,
            "apiVersion": api_version,
            "type": event_type,
            "cluster": args.cluster,
            "observedAt": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "initial": False,
            "resource": obj,
        }
        r = requests.post(args.webhook_url, data=json.dumps(body), headers=headers, timeout=30)
        if r.status_code >= 300:
            print("webhook answered %d: %s" % (r.status_code, r.text[:200]), file=sys.stderr)

    def watch_pvs():
        w = watch.Watch()
        while True:
            for event in w.stream(core.list_persistent_volume):
                obj = api.sanitize_for_serialization(event["object"])
                sc = (obj.get("spec") or {}).get("storageClassName")
                if args.storage_class and sc not in args.storage_class:
                    continue
                post("PersistentVolume", "v1", event["type"], obj)

    def watch_snapshots():
        w = watch.Watch()
        while True:
            for event in w.stream(custom.list_cluster_custom_object,
                                  "snapshot.storage.k8s.io", "v1", "volumesnapshots"):
                post("VolumeSnapshot", "snapshot.storage.k8s.io/v1", event["type"],
                     event["object"])

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for target in (watch_pvs, watch_snapshots):
        threading.Thread(target=target, daemon=True).start()
    print("forwarder.py: watching", flush=True)
    while not stop.wait(1):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
