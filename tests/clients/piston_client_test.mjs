// The npm `piston-client` against a tiderun server, unchanged:
//   node tests/clients/piston_client_test.mjs http://127.0.0.1:PORT
// Prints one line per check and exits non-zero when any check fails.
// Run by crates/server/tests/piston.rs (which installs the package when node_modules is missing).

import piston from "piston-client";

const base = process.argv[2];
if (!base) {
    console.error("usage: node piston_client_test.mjs BASE_URL");
    process.exit(2);
}

const client = piston({ server: base });
let passed = 0;
let failed = 0;

function check(what, ok, got) {
    if (ok) {
        passed += 1;
        console.log(`ok ${what}`);
    } else {
        failed += 1;
        console.log(`FAIL ${what}: ${JSON.stringify(got)}`);
    }
}

const runtimes = await client.runtimes();
check(
    "runtimes lists python with aliases",
    Array.isArray(runtimes) && runtimes.some((r) => r.language === "python" && Array.isArray(r.aliases) && r.version),
    runtimes,
);

// The client picks the newest python from runtimes, sends args ["1","2","3"], stdin "",
// memory limits -1 and no Content-Type header.
const hi = await client.execute("python", 'print("hi")');
check(
    "python prints hi",
    hi.language === "python" && hi.run?.stdout === "hi\n" && hi.run?.output === "hi\n" && hi.run?.code === 0,
    hi,
);
check("an interpreted language has no compile stage", hi.compile === undefined, hi);

const args = await client.execute("python", "import sys\nprint(sys.argv[1:])");
check("the client's default args arrive", args.run?.stdout === "['1', '2', '3']\n", args);

const stdin = await client.execute("python", "print(input()[::-1])", { stdin: "stressed" });
check("stdin reaches the program", stdin.run?.stdout === "desserts\n", stdin);

const versioned = await client.execute("python", "print(2 + 2)", { version: "3.x" });
check("a version selector works", versioned.run?.stdout === "4\n", versioned);

const c = await client.execute("c", '#include <stdio.h>\nint main(void) { puts("C ok"); return 0; }');
check(
    "c compiles and runs",
    c.compile?.code === 0 && c.run?.stdout === "C ok\n" && c.run?.code === 0,
    c,
);

const broken = await client.execute("c", "int main( {");
check(
    "a compile error still has run, equal to compile",
    broken.compile?.code !== 0 && broken.run?.code === broken.compile?.code && broken.run?.stderr === broken.compile?.stderr,
    broken,
);

const unknown = await client.execute("no-such-language", "x", { version: "1.0.0" });
check("an unknown language is a message", unknown.message === "no-such-language-1.0.0 runtime is unknown", unknown);

console.log(`piston-client checks: ${passed} ok, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
