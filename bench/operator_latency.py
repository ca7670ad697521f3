#!/usr/bin/env python3
"""Reconcile latency of the Riffle operator: from a spec change to its first action.

For each FlinkDeployment of a namespace, in turn: note the time, change its spec
(`spec.restartNonce`, a merge patch), and wait until a watch on the namespace delivers the
resource with `status.observedGeneration` equal to the new generation: the status write that
is the operator's first action on the change. Prints p50, p90, p99 and max in milliseconds.

Talks to the apiserver through `kubectl proxy` (plain HTTP on 127.0.0.1), so it needs no
client library:  operator_latency.py --proxy 127.0.0.1:8001 --namespace NS [--rounds 1]
"""

import argparse
import json
import threading
import time
import urllib.request

GROUP = "/apis/riffle.dev/v1beta1"


def request(proxy, method, path, body=None, content_type="application/json"):
    req = urllib.request.Request(f"http://{proxy}{path}", method=method)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, data=data, timeout=30) as r:
        return json.loads(r.read())


class Watcher(threading.Thread):
    """Records when each (name, observedGeneration) is first seen."""

    def __init__(self, proxy, namespace, resource_version):
        super().__init__(daemon=True)
        self.url = (f"http://{proxy}{GROUP}/namespaces/{namespace}/flinkdeployments"
                    f"?watch=1&resourceVersion={resource_version}")
        self.seen = {}
        self.cond = threading.Condition()

    def run(self):
        with urllib.request.urlopen(self.url, timeout=3600) as stream:
            for line in stream:
                at = time.time()
                event = json.loads(line)
                obj = event.get("object", {})
                name = obj.get("metadata", {}).get("name")
                gen = (obj.get("status") or {}).get("observedGeneration")
                if name is None or gen is None:
                    continue
                with self.cond:
                    self.seen.setdefault((name, gen), at)
                    self.cond.notify_all()

    def wait_for(self, name, gen, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while (name, gen) not in self.seen:
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError(f"{name}: generation {gen} not observed within {timeout}s")
                self.cond.wait(left)
            return self.seen[(name, gen)]


def percentile(values, p):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", required=True, help="host:port of `kubectl proxy`")
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--rounds", type=int, default=1, help="changes per resource")
    args = ap.parse_args()
    listing = request(args.proxy, "GET", f"{GROUP}/namespaces/{args.namespace}/flinkdeployments")
    names = sorted(i["metadata"]["name"] for i in listing["items"])
    if not names:
        raise SystemExit(f"no FlinkDeployments in namespace {args.namespace}")
    watcher = Watcher(args.proxy, args.namespace, listing["metadata"]["resourceVersion"])
    watcher.start()
    latencies = []
    for round_ in range(args.rounds):
        for name in names:
            path = f"{GROUP}/namespaces/{args.namespace}/flinkdeployments/{name}"
            started = time.time()
            patched = request(args.proxy, "PATCH", path,
                              {"spec": {"restartNonce": int(started * 1000) + round_}},
                              "application/merge-patch+json")
            gen = patched["metadata"]["generation"]
            seen = watcher.wait_for(name, gen, timeout=60)
            latencies.append((seen - started) * 1000)
    print(f"changes {len(latencies)} ({len(names)} resources x {args.rounds})")
    for p in (50, 90, 99):
        print(f"p{p}_ms {percentile(latencies, p):.1f}")
    print(f"max_ms {max(latencies):.1f}")


if __name__ == "__main__":
    main()
