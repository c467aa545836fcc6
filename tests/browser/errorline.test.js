// The page's reading of error messages: which line of the student's file they name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorLine } from '../../web/src/errorline.js';

test('python: the innermost frame of the traceback', () => {
  const m = 'Traceback (most recent call last):\n  File "/work/main.py", line 3, in <module>\n    f()\n  File "/work/main.py", line 2, in f\n    return 1/0\nZeroDivisionError: division by zero\n';
  assert.deepEqual(errorLine(m, 'main.py'), { line: 2, column: null });
  assert.deepEqual(errorLine('  File "/work/main.py", line 7\n    y = x +\nSyntaxError: invalid syntax', 'main.py'), { line: 7, column: null });
  // A frame in a library does not count.
  assert.equal(errorLine('  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n', 'main.py'), null);
});

test('gcc and g++: the first error, not a warning before it', () => {
  const m = "main.c: In function 'main':\nmain.c:2:9: warning: unused variable 'x'\nmain.c:3:15: error: expected ';' before 'return'\n";
  assert.deepEqual(errorLine(m, 'main.c'), { line: 3, column: 15 });
  assert.deepEqual(errorLine("main.cpp:2:10: error: 'x' was not declared in this scope", 'main.cpp'), { line: 2, column: 10 });
  assert.deepEqual(errorLine("main.c:5:1: warning: control reaches end", 'main.c'), { line: 5, column: 1 });
});

test('javac, java, node, rustc, bash, perl', () => {
  assert.deepEqual(errorLine('Main.java:3: error: incompatible types', 'Main.java'), { line: 3, column: null });
  assert.deepEqual(errorLine('Exception in thread "main" java.lang.NullPointerException\n\tat Main.main(Main.java:4)', 'Main.java'), { line: 4, column: null });
  assert.deepEqual(errorLine('/work/main.js:2\nnull.x;\n     ^\n\nTypeError: x\n    at Object.<anonymous> (/work/main.js:2:6)\n    at Module._compile (node:internal/modules/cjs/loader:1521:14)', 'main.js'), { line: 2, column: null });
  assert.deepEqual(errorLine('error[E0308]: mismatched types\n --> main.rs:2:16\n  |', 'main.rs'), { line: 2, column: 16 });
  assert.deepEqual(errorLine('main.sh: line 2: foo: command not found', 'main.sh'), { line: 2, column: null });
  assert.deepEqual(errorLine('syntax error at main.pl line 2, near "= ;"', 'main.pl'), { line: 2, column: null });
});

test('no line: nothing', () => {
  assert.equal(errorLine('Killed', 'main.py'), null);
  assert.equal(errorLine('', 'main.py'), null);
  assert.equal(errorLine('notmain.c:3:1: error: x', 'main.c'), null);
  assert.equal(errorLine('main.c:3:1: error', null), null);
});
