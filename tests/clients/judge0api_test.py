#!/usr/bin/env python3
"""judge0api (PyPI, vCra/judge0api) against a tiderun server.

    PYTHONPATH=target/pyclients-judge0api python3 tests/clients/judge0api_test.py http://127.0.0.1:8080

Uses the client the way its README shows: `api.Client(endpoint)`, `api.submission.submit`
with bytes for the source, stdin and expected output, once with the client's default
`wait = True` (the result comes back with the creation) and once with `client.wait = False`
followed by `submission.load(client)`, and `api.submission.get`. The client asks for
`/submissions/` and `/submissions/TOKEN/` with a trailing slash. (Its `api.language.load`
calls `client.endpoint.get`, a method of a string, and cannot work against any server.)
Prints one line per check and exits non-zero on any mismatch. Run by
crates/server/tests/judge0.rs (judge0api_client).
"""

import sys
import time

import judge0api as api

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def main(endpoint):
    client = api.Client(endpoint)

    # wait = True (the default): the result comes back with the creation.
    s = api.submission.submit(client, b"print(f'Hello {input()}')", 71, stdin=b"Judge0", expected_output=b"Hello Judge0")
    check("wait: accepted", s.status and s.status["id"] == api.Judge0Status.ACCEPTED.value, vars(s))
    check("wait: stdout", s.stdout == b"Hello Judge0\n", s.stdout)

    # The README's way: wait = False, then load.
    client.wait = False
    s = api.submission.submit(client, b"print(f'Hello {input()}')", 71, stdin=b"Judge0", expected_output=b"Hello Judge0")
    check("async: token", bool(s.token), vars(s))
    deadline = time.monotonic() + 120
    while True:
        s.load(client)
        if s.status and s.status["id"] not in (1, 2):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check("async: accepted", s.status and s.status["id"] == api.Judge0Status.ACCEPTED.value, vars(s))
    check("async: stdout", s["stdout"] == "Hello Judge0\n", s.stdout)
    check("async: language_id", s.language_id == 71, s.language_id)

    again = api.submission.get(client, s.token)
    check("get by token", again.stdout == b"Hello Judge0\n" and again.time is not None, vars(again))

    # Limits and a compile error, by id (C: 50).
    client.wait = True
    s = api.submission.submit(client, b"int main( {", 50)
    check("compile error", s.status and s.status["id"] == api.Judge0Status.COMPILATION_ERR.value, vars(s))
    s = api.submission.submit(client, b"while True: pass", 71, cpu_time_limit=1, wall_time_limit=3)
    check("time limit", s.status and s.status["id"] == api.Judge0Status.TIMEOUT.value, vars(s))

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all judge0api checks passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
