#!/usr/bin/env python3
"""The official Judge0 Python SDK (PyPI `judge0`, 0.0.8) against a tiderun server.

    PYTHONPATH=target/pyclients python3 tests/clients/judge0_sdk_test.py http://127.0.0.1:8080

Uses only the SDK's public API (Client, run, async_execute, wait, Submission) the way its
documentation shows for a self-hosted server. Prints one line per check and exits non-zero
on any mismatch. Run by crates/server/tests/judge0.rs (official_python_sdk).
"""

import sys

import judge0
from judge0 import File, Filesystem, LanguageAlias, MaxWaitTime, Status, Submission

PYTHON = 71

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def main(base_url):
    # The constructor fetches /languages and /config_info and fails if either does not parse.
    client = judge0.Client(base_url, retry_strategy=MaxWaitTime(120))
    check("config parsed", client.config.max_submission_batch_size == 20, client.config)
    check("python listed", client.is_language_supported(PYTHON), client.languages)
    check("alias by /about version", client.get_language_id(LanguageAlias.PYTHON) == PYTHON, client.version)
    check("statuses", len(client.get_statuses()) == 14)
    check("language 71: script.py", client.get_language(PYTHON).source_file == "script.py")

    # run: a single submission (created async, polled with fields=*, base64).
    s = judge0.run(client=client, source_code='print("hello, world")', language=LanguageAlias.PYTHON)
    check("run: accepted", s.status == Status.ACCEPTED, s)
    check("run: stdout", s.stdout == "hello, world\n", repr(s.stdout))
    check("run: time and memory", s.time is not None and s.time >= 0 and (s.memory or 0) > 0, s)
    check("run: timestamps", s.created_at is not None and s.finished_at is not None, s)

    # stdin
    s = judge0.run(client=client, source_code="print(input()[::-1])", stdin="tiderun", language=PYTHON)
    check("stdin", s.status == Status.ACCEPTED and s.stdout == "nuredit\n", s)

    # A batch of several submissions from test cases, with expected output.
    cases = [("2", "4"), ("3", "9"), ("4", "16"), ("5", "26")]
    results = judge0.run(
        client=client, source_code="n = int(input())\nprint(n * n)", language=PYTHON, test_cases=cases
    )
    got = [r.status for r in results]
    want = [Status.ACCEPTED, Status.ACCEPTED, Status.ACCEPTED, Status.WRONG_ANSWER]
    check("batch: test cases", got == want, got)
    check("batch: outputs", [r.stdout for r in results] == ["4\n", "9\n", "16\n", "25\n"], results)

    # A batch of Submission objects: async_execute, then wait.
    subs = [Submission(source_code=f"print({i} * 10)", language=PYTHON) for i in range(6)]
    subs = judge0.async_execute(client=client, submissions=subs)
    check("async: tokens", all(sub.token is not None for sub in subs), subs)
    judge0.wait(client=client, submissions=subs, retry_strategy=MaxWaitTime(120))
    check("async: all done", all(sub.status == Status.ACCEPTED for sub in subs), [sub.status for sub in subs])
    check("async: outputs", [sub.stdout for sub in subs] == [f"{i * 10}\n" for i in range(6)], subs)

    # A compile error (C by its alias: 50 on 1.13.1).
    s = judge0.run(client=client, source_code="int main( { return 0; }", language=LanguageAlias.C)
    check("compile error: status", s.status == Status.COMPILATION_ERROR, s)
    check("compile error: output", bool(s.compile_output) and "error" in s.compile_output, repr(s.compile_output))

    # A time limit.
    s = judge0.run(
        client=client, source_code="while True:\n    pass\n", language=PYTHON, cpu_time_limit=1, wall_time_limit=5
    )
    check("time limit", s.status == Status.TIME_LIMIT_EXCEEDED, s)

    # A runtime error with its exit code.
    s = judge0.run(client=client, source_code="import sys\nsys.exit(3)", language=PYTHON)
    check("runtime error", s.status == Status.RUNTIME_ERROR_NZEC and s.exit_code == 3, s)

    # Filesystem: files beside the program (the README's example, which reads one back).
    fs = Filesystem(content=[File(name="./my_dir1/my_file1.txt", content="hello from my_file.txt")])
    source_code = """
cat ./my_dir1/my_file1.txt
mkdir my_dir2
echo "hello, world" > ./my_dir2/my_file2.txt
cat ./my_dir2/my_file2.txt
"""
    s = judge0.run(
        client=client, submissions=Submission(source_code=source_code, language=LanguageAlias.BASH, additional_files=fs)
    )
    check("filesystem: accepted", s.status == Status.ACCEPTED, s)
    check("filesystem: the files", s.stdout == "hello from my_file.txthello, world\n", repr(s.stdout))

    # A multi-file program (89): its run script comes in the filesystem, no source code.
    fs = Filesystem(
        content=[
            File(name="run", content="python3 main.py"),
            File(name="main.py", content="import helper\nprint(helper.greet())"),
            File(name="helper.py", content="def greet():\n    return 'hello from two files'"),
        ]
    )
    s = judge0.run(
        client=client, submissions=Submission(source_code="", language=LanguageAlias.MULTI_FILE, additional_files=fs)
    )
    check("multi-file: accepted", s.status == Status.ACCEPTED, s)
    check("multi-file: stdout", s.stdout == "hello from two files\n", repr(s.stdout))

    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all SDK checks passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
