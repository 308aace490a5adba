#!/usr/bin/env python3
# Memory during a burst of logins (docs/benchmarks.md): fires N parallel
# logins at a running server and prints its RSS at idle and peak after.
# Usage: scripts/login-burst.py PID PORT [N=90]
import http.client, json, sys, threading, time, collections
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 90
def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])  # kB
statuses = collections.Counter()
barrier = threading.Barrier(n)
def one(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.connect()
    body = json.dumps({"email": f"guess{i}@example.com", "password": "wrong wrong wrong"})
    barrier.wait()
    c.request("POST", "/v1/auth/token", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    statuses[r.status] += 1
idle_rss, idle_hwm = status("VmRSS:"), status("VmHWM:")
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.time() - t0
hwm = status("VmHWM:")
print(json.dumps({"n": n, "statuses": dict(statuses), "seconds": round(elapsed, 2),
                  "idle_rss_mib": round(idle_rss/1024, 1), "idle_hwm_mib": round(idle_hwm/1024, 1),
                  "peak_hwm_mib": round(hwm/1024, 1), "peak_above_idle_mib": round((hwm-idle_rss)/1024, 1)}))
