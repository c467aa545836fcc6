#!/usr/bin/env python3
"""judge0-client (PyPI, Roslovets-Inc/judge0-client) against a tiderun server.

    PYTHONPATH=target/pyclients-judge0-client python3 tests/clients/judge0_client_test.py http://127.0.0.1:8080

Uses the client the way its README shows: `Judge0Client` as an async context manager,
`SingleFileSubmission` (with stdin, expected output and additional_files),
`MultiFileSubmission` (language 89: a `run` script and, here, a `compile` script), then
`get_submission` until the status is final; and the informational calls (`get_about`, whose
model needs non-null homepage and source_code, `get_workers`, `get_isolate`, `get_license`).
Prints one line per check and exits non-zero on any mismatch. Run by
crates/server/tests/judge0.rs (judge0_client).
"""

import asyncio
import sys

from judge0_client import (
    Judge0Client,
    Judge0Error,
    MultiFileSubmission,
    SingleFileSubmission,
    SubmissionStatusId,
)

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


async def finished(client, token, timeout_s=120):
    """get_submission until the status is neither In Queue nor Processing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        detail = await client.get_submission(token)
        if detail.status.id not in (SubmissionStatusId.IN_QUEUE, SubmissionStatusId.PROCESSING):
            return detail
        if loop.time() > deadline:
            raise TimeoutError(f"{token} did not finish: {detail}")
        await asyncio.sleep(0.1)


async def run(client, request):
    created = await client.create_submission(request)
    return await finished(client, created.token)


async def main(base_url):
    async with Judge0Client(base_url=base_url, timeout=30.0) as client:
        about = await client.get_about()
        check("about: homepage and source_code", bool(about.homepage) and bool(about.source_code), about)
        check("about: version", about.version == "1.13.1", about)
        workers = await client.get_workers()
        check("workers", len(workers) == 1 and workers[0].available >= 1, workers)
        isolate = await client.get_isolate()
        check("isolate", "isolate" in isolate, isolate)
        license_text = await client.get_license()
        check("license", "Apache-2.0" in license_text, license_text)

        # Quick Start.
        d = await run(client, SingleFileSubmission(language_id=71, source_code='print("Hello, Judge0!")'))
        check("single: accepted", d.status.id == SubmissionStatusId.ACCEPTED, d)
        check("single: stdout", d.stdout == "Hello, Judge0!\n", repr(d.stdout))
        check("single: time and memory", d.time is not None and (d.memory or 0) > 0, d)

        # stdin, expected output.
        d = await run(
            client,
            SingleFileSubmission(
                language_id=71,
                source_code="print('sum =', int(input()) + 2)",
                stdin="40\n",
                expected_output="sum = 42",
            ),
        )
        check("stdin and expected output", d.status.id == SubmissionStatusId.ACCEPTED and d.stdout == "sum = 42\n", d)

        # Additional files beside the program (the README's example).
        d = await run(
            client,
            SingleFileSubmission(
                language_id=71,
                source_code="import helper; print(helper.answer())",
                additional_files={"helper.py": "def answer():\n    return 42\n"},
            ),
        )
        check("additional files: import", d.status.id == SubmissionStatusId.ACCEPTED and d.stdout == "42\n", d)

        # Command-line arguments as a shell splits them.
        d = await run(
            client,
            SingleFileSubmission(
                language_id=71,
                source_code="import sys; print(sys.argv[1:])",
                command_line_arguments="a 'b c' \"d e\"",
            ),
        )
        check("arguments: quotes group words", d.stdout == "['a', 'b c', 'd e']\n", d)

        # A traceback names Judge0's file, script.py.
        d = await run(client, SingleFileSubmission(language_id=71, source_code="1 / 0"))
        check(
            "traceback: script.py",
            d.status.id == SubmissionStatusId.RUNTIME_ERROR_NZEC and 'script.py", line 1' in (d.stderr or ""),
            d,
        )

        # Multi-file program (the README's, with python3: Debian has no `python`).
        d = await run(
            client,
            MultiFileSubmission(
                additional_files={
                    "run": "python3 main.py\n",
                    "main.py": "print('Hello from multi-file!')\n",
                }
            ),
        )
        check("multi-file: run script", d.status.id == SubmissionStatusId.ACCEPTED, d)
        check("multi-file: stdout", d.stdout == "Hello from multi-file!\n", repr(d.stdout))

        # With a compile script: C in two files, compiled by `compile`, run by `run`.
        d = await run(
            client,
            MultiFileSubmission(
                additional_files={
                    "compile": "gcc -O2 -o prog main.c add.c\n",
                    "run": './prog "$@"\n',
                    "main.c": '#include <stdio.h>\nint add(int, int);\nint main(void) { printf("%d\\n", add(40, 2)); return 0; }\n',
                    "add.c": "int add(int a, int b) { return a + b; }\n",
                },
                stdin="",
            ),
        )
        check("multi-file: compile and run", d.status.id == SubmissionStatusId.ACCEPTED and d.stdout == "42\n", d)

        d = await run(
            client,
            MultiFileSubmission(additional_files={"compile": "gcc -o prog main.c\n", "run": "./prog\n", "main.c": "int main( {"}),
        )
        check(
            "multi-file: compile error",
            d.status.id == SubmissionStatusId.COMPILATION_ERROR and "error" in (d.compile_output or ""),
            d,
        )

        # A hostile archive is refused with Judge0's field error (the client raises Judge0Error).
        try:
            await client.create_submission(MultiFileSubmission(additional_files={"../run": "echo escaped\n"}))
            check("zip slip refused", False, "accepted")
        except Judge0Error as e:
            check("zip slip refused", "422" in str(e) and "additional_files" in str(e), e)

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all judge0-client checks passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1])))
