#!/usr/bin/env python3
"""Reconcile latency of a FlinkDeployment operator: from a spec change to its first action.

For each FlinkDeployment of a namespace, in turn: note the time, change its spec
(`spec.restartNonce`, a merge patch), and wait until a watch on the namespace delivers the
operator's first action on the change. Prints p50, p90, p99 and max in milliseconds.

The first action is, with `--action status` (the default, Riffle's operator), the status
write: the resource with `status.observedGeneration` equal to the new generation. With
`--action event` (the Flink Kubernetes Operator, whose status has no observedGeneration and
which answers a change to a suspended job with an Event only), it is the Event of reason
`--event-reason` (default SpecChanged) about the resource whose message names the new nonce.

Talks to the apiserver through `kubectl proxy` (plain HTTP on 127.0.0.1), so it needs no
client library:
  operator_latency.py --proxy 127.0.0.1:8001 --namespace NS [--rounds 1]
  operator_latency.py --proxy ... --namespace NS --group flink.apache.org/v1beta1 --action event
"""

import argparse
import json
import threading
import time
import urllib.request

DEFAULT_GROUP = "riffle.dev/v1beta1"


def request(proxy, method, path, body=None, content_type="application/json"):
    req = urllib.request.Request(f"http://{proxy}{path}", method=method)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, data=data, timeout=30) as r:
        return json.loads(r.read())


class Watcher(threading.Thread):
    """Records, per resource name, when each object the watch delivers was first seen."""

    def __init__(self, proxy, path, resource_version, name_of):
        super().__init__(daemon=True)
        self.url = f"http://{proxy}{path}?watch=1&resourceVersion={resource_version}"
        self.name_of = name_of
        self.seen = {}  # name -> [(time, object)], in delivery order
        self.cond = threading.Condition()

    def run(self):
        with urllib.request.urlopen(self.url, timeout=3600) as stream:
            for line in stream:
                at = time.time()
                obj = json.loads(line).get("object", {})
                name = self.name_of(obj)
                if name is None:
                    continue
                with self.cond:
                    self.seen.setdefault(name, []).append((at, obj))
                    self.cond.notify_all()

    def wait_for(self, name, matches, what, timeout):
        """The time the first object about `name` for which `matches(obj)` was delivered."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for at, obj in self.seen.get(name, ()):
                    if matches(obj):
                        return at
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError(f"{name}: {what} not seen within {timeout}s")
                self.cond.wait(left)


def percentile(values, p):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", required=True, help="host:port of `kubectl proxy`")
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--rounds", type=int, default=1, help="changes per resource")
    ap.add_argument("--group", default=DEFAULT_GROUP,
                    help=f"API group/version of the FlinkDeployments (default {DEFAULT_GROUP})")
    ap.add_argument("--action", choices=("status", "event"), default="status",
                    help="what counts as the operator's first action (see above)")
    ap.add_argument("--event-reason", default="SpecChanged", help="with --action event")
    args = ap.parse_args()
    ns = args.namespace
    resources = f"/apis/{args.group}/namespaces/{ns}/flinkdeployments"
    listing = request(args.proxy, "GET", resources)
    names = sorted(i["metadata"]["name"] for i in listing["items"])
    if not names:
        raise SystemExit(f"no FlinkDeployments in namespace {ns}")
    if args.action == "status":
        watcher = Watcher(args.proxy, resources, listing["metadata"]["resourceVersion"],
                          lambda obj: obj.get("metadata", {}).get("name"))
    else:
        events = f"/api/v1/namespaces/{ns}/events"
        kind = "FlinkDeployment"
        watcher = Watcher(args.proxy, events,
                          request(args.proxy, "GET", events)["metadata"]["resourceVersion"],
                          lambda obj: (obj.get("involvedObject") or {}).get("name")
                          if (obj.get("involvedObject") or {}).get("kind") == kind else None)
    watcher.start()
    latencies = []
    for round_ in range(args.rounds):
        for name in names:
            started = time.time()
            nonce = int(started * 1000) + round_
            patched = request(args.proxy, "PATCH", f"{resources}/{name}",
                              {"spec": {"restartNonce": nonce}},
                              "application/merge-patch+json")
            gen = patched["metadata"]["generation"]
            if args.action == "status":
                what = f"status.observedGeneration {gen}"
                def matches(obj, gen=gen):
                    return (obj.get("status") or {}).get("observedGeneration") == gen
            else:
                what = f"an Event {args.event_reason} naming restartNonce {nonce}"
                def matches(obj, nonce=nonce):
                    return (obj.get("reason") == args.event_reason
                            and str(nonce) in (obj.get("message") or ""))
            seen = watcher.wait_for(name, matches, what, timeout=60)
            latencies.append((seen - started) * 1000)
    print(f"changes {len(latencies)} ({len(names)} resources x {args.rounds})")
    for p in (50, 90, 99):
        print(f"p{p}_ms {percentile(latencies, p):.1f}")
    print(f"max_ms {max(latencies):.1f}")


if __name__ == "__main__":
    main()
