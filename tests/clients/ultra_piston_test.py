#!/usr/bin/env python3
"""ultra-piston (PyPI `ultra-piston`, 1.0.1: `from ultra_piston import PistonClient, File`)
against a tiderun server.

    PYTHONPATH=target/pyclients-piston python3 tests/clients/ultra_piston_test.py http://127.0.0.1:8080

Uses only the client's public API the way its README shows (sync and `_async` methods), with
`base_url` pointed at the server (the default is emkc.org's `/api/v2/piston/`). Its models are
pydantic: a missing or mistyped field in an answer raises. Prints one line per check and exits
non-zero on any mismatch. Run by crates/server/tests/piston_clients.rs (ultra_piston).
"""

import asyncio
import sys

from ultra_piston import File, PistonClient
from ultra_piston.errors import BadRequestError, ServerError

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def main(base_url):
    client = PistonClient(base_url=base_url.rstrip("/") + "/api/v2/")

    runtimes = client.get_runtimes()
    python = [r for r in runtimes if r.language == "python"]
    check("runtimes", len(python) == 1 and "py" in python[0].aliases, runtimes)
    version = python[0].version

    # The package list (Piston's `ppman list`): every runtime, with its install state.
    packages = client.get_packages()
    by_language = {p.language: p for p in packages}
    check(
        "packages",
        by_language.get("python") is not None
        and by_language["python"].installed
        and by_language["python"].language_version == version,
        packages,
    )
    check("packages cover the runtimes", {r.language for r in runtimes} <= set(by_language), packages)

    # The README's example, with the installed version.
    result = client.post_execute(language="python3", version=version, file=File(content='print("Hello from ultra-piston!")'))
    check("hello", result.run.output == "Hello from ultra-piston!\n" and result.run.code == 0, result)
    check("no compile stage", result.compile is None, result)

    result = client.post_execute(
        language="py",
        version="3.x",
        file=File(name="main.py", content="import sys\nprint(input(), sys.argv[1:])"),
        stdin="from stdin",
        args=["a b", "c"],
    )
    check("stdin and args", result.run.stdout == "from stdin ['a b', 'c']\n", result)

    result = client.post_execute(
        language="c", version="*", file=File(content='#include <stdio.h>\nint main(void) { puts("c"); return 2; }\n')
    )
    check("c", result.compile is not None and result.compile.code == 0 and result.run.stdout == "c\n", result)
    check("exit code", result.run.code == 2, result)

    result = client.post_execute(language="c", version="*", file=File(content="int main(void) { return x; }\n"))
    check("compile error", result.compile.code == 1 and result.run.code == 1 and "undeclared" in result.run.stderr, result)

    # Piston needs one utf8 file to run; a base64 one alone is its 400, which the client raises.
    try:
        client.post_execute(language="python", version="*", file=File(content="cHJpbnQoMSk=", encoding="base64"))
        check("a base64 file alone raises", False, "no exception")
    except BadRequestError:
        check("a base64 file alone raises", True)
    try:
        client.post_execute(language="no-such-language", version="*", file=File(content="x"))
        check("unknown runtime raises", False, "no exception")
    except BadRequestError:
        check("unknown runtime raises", True)

    # Installing and removing are an operator's job: 403, which the client raises.
    for name, call in [("post_packages", client.post_packages), ("delete_packages", client.delete_packages)]:
        try:
            call(language="python", version="*")
            check(f"{name} raises", False, "no exception")
        except ServerError as e:
            check(f"{name} raises 403", e.status_code == 403, e)


async def main_async(base_url):
    client = PistonClient(base_url=base_url.rstrip("/") + "/api/v2/")
    runtimes = await client.get_runtimes_async()
    check("async: runtimes", any(r.language == "c" for r in runtimes), runtimes)
    packages = await client.get_packages_async()
    check("async: packages", any(p.language == "c" and p.installed for p in packages), packages)
    result = await client.post_execute_async(language="python", version="*", file=File(content="print(6 * 7)"))
    check("async: execute", result.run.stdout == "42\n", result)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: ultra_piston_test.py BASE_URL", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
    asyncio.run(main_async(sys.argv[1]))
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)
