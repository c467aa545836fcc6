# Attack: hold a run slot for tests × wall limit. Each test sleeps just under its own wall
# limit (the seconds on stdin), so no single run is cut, while 64 of them would hold the slot
# for minutes.
import sys
import time

time.sleep(float(sys.stdin.read().strip() or 1))
print("done")
