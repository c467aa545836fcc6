# Attack: output amplification. A control character is six bytes of JSON (`\u0001`), so a run
# that prints its whole output cap of them makes an answer six times the cap, and a request
# with many tests or runs multiplies that: gigabytes held by the server for one request.
# Prints N bytes of \x01 (N on stdin; 16 MiB, the largest cap a run may ask for, without one).
import sys

n = int(sys.stdin.read().strip() or 16 << 20)
sys.stdout.buffer.write(b"\x01" * n)
sys.stdout.flush()
