# Attack: read the server's environment (API keys, database passwords) through /proc — the
# sandbox init is a fork of the server — and look for any process whose environment or
# command line names the server's secret variable.
import errno
import os

for path in ("/proc/1/environ", "/proc/1/cmdline", "/proc/1/mem", "/proc/1/root"):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        print(path, "READABLE")
    except OSError as e:
        print(path, errno.errorcode[e.errno])

found = []
scanned = 0
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self"]:
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                data = f.read()
            scanned += 1
            if b"TIDERUN_TEST_SECRET" in data:
                found.append(f"{pid}/{name}")
        except OSError:
            pass
print("scanned", "some" if scanned else "none")
print("secret in /proc", found or "nowhere")
print("secret in os.environ", [k for k in os.environ if "TIDERUN" in k] or "no")
