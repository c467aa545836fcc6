#!/usr/bin/env python3
"""aiopyston (PyPI `aiopyston`, 1.2.1: `from pyston import PystonClient, File`) against a
tiderun server.

    PYTHONPATH=target/pyclients-piston python3 tests/clients/aiopyston_test.py http://127.0.0.1:8080

Uses only the client's public API the way its README shows, with `base_url` pointed at the
server's Piston prefix (the client's default is emkc.org's `/api/v2/piston/`; it calls
`runtimes/` and `execute/`, with their trailing slashes). Prints one line per check and exits
non-zero on any mismatch. Run by crates/server/tests/piston_clients.rs (aiopyston).
"""

import asyncio
import sys

from pyston import File, PystonClient
from pyston.exceptions import ExecutionError, InvalidLanguage

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


async def main(base_url):
    client = PystonClient(base_url=base_url.rstrip("/") + "/api/v2/piston/")
    try:
        runtimes = await client.runtimes()
        check("runtimes", any(r.language == "python" and "py" in r.aliases for r in runtimes), runtimes)
        check("languages", {"python", "c"} <= await client.languages())
        python = await client.get_runtimes("py")
        check("get_runtimes by alias", [r.language for r in python] == ["python"], python)
        try:
            await client.get_runtimes("no-such-language")
            check("unknown language raises", False, "no exception")
        except InvalidLanguage:
            check("unknown language raises", True)

        # The README's example.
        output = await client.execute("python", [File("print('Hello world')")])
        check("hello world", str(output) == "Hello world\n", repr(output))
        check("run stage", output.run_stage.code == 0 and output.run_stage.stdout == "Hello world\n", output.run_stage)
        check("success", output.success)
        check("no compile stage", output.compile_stage is None, output.compile_stage)
        check("language and version", output.langauge == "python" and output.version.startswith("3."), output.raw_json)

        output = await client.execute(
            "python",
            [File("import sys\nprint(input(), sys.argv[1:])")],
            stdin="from stdin",
            args=["a b", "c"],
        )
        check("stdin and args", output.run_stage.stdout == "from stdin ['a b', 'c']\n", output.run_stage)

        # A C program of two files and a header: every source is compiled and linked.
        output = await client.execute(
            "c",
            [
                File('#include <stdio.h>\n#include "add.h"\nint main(void) { printf("%d\\n", add(2, 40)); return 0; }\n', filename="main.c"),
                File("int add(int a, int b);\n", filename="add.h"),
                File('#include "add.h"\nint add(int a, int b) { return a + b; }\n', filename="add.c"),
            ],
        )
        check("c: compiled", output.compile_stage is not None and output.compile_stage.code == 0, output.raw_json)
        check("c: several files linked", output.run_stage.stdout == "42\n", output.raw_json)

        output = await client.execute("c", [File("int main(void) { return x; }\n")])
        check("c: compile error in both stages", output.compile_stage.code == 1 and output.run_stage.code == 1, output.raw_json)
        check("c: compiler message", "undeclared" in (output.compile_stage.output or ""), output.raw_json)

        output = await client.execute("python", [File("import sys\nsys.exit(3)")])
        check("exit code", output.run_stage.code == 3 and output.raw_json["run"]["status"] == "RE", output.raw_json)

        # Piston's 400 becomes the client's ExecutionError with Piston's message.
        try:
            await client.execute("no-such-language", [File("x")], version="*")
            check("unknown runtime raises", False, "no exception")
        except ExecutionError as e:
            check("unknown runtime raises", str(e) == "no-such-language-* runtime is unknown", str(e))
        try:
            await client.execute("python", [File("print(1)")], run_timeout=10**9)
            check("limit past the maximum raises", False, "no exception")
        except ExecutionError as e:
            check("limit past the maximum raises", str(e).startswith("run_timeout cannot exceed"), str(e))
    finally:
        await client.close_session()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: aiopyston_test.py BASE_URL", file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1]))
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)
