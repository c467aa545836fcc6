// Which line of the student's file an error message points at. Compilers and interpreters
// name the file and the line in a few well-known forms:
//   Python   File "/work/main.py", line 3        (a traceback: the innermost frame counts)
//   gcc/g++  main.c:3:5: error: ...              (the first error, else the first mention)
//   javac    Main.java:3: error: ...
//   node     /work/main.js:3                     (also `at ... (/work/main.js:3:6)`)
//   rustc    --> main.rs:3:5
//   Java     at Main.main(Main.java:4)
//   bash     main.sh: line 2: ...
//   perl     ... at main.pl line 2, near ...
// Only mentions of the main file count: a line in a library means nothing in the editor.

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The line (1-based) and, when given, column that `message` blames in `file`, or null.
 * `file` is the main file's name (`main.py`, `Main.java`).
 */
export function errorLine(message, file) {
  if (!message || !file) return null;
  const name = escape(file.split('/').pop());
  const path = `(?:[^\\s"'(:]*/)?${name}`;

  // Python's traceback lists the outermost call first: the last frame is where it failed.
  const python = [...message.matchAll(new RegExp(`File "${path}", line (\\d+)`, 'g'))];
  if (python.length) return { line: Number(python[python.length - 1][1]), column: null };

  const colon = new RegExp(`(?:^|[\\s(>])${path}:(\\d+)(?::(\\d+))?`, 'gm');
  const mentions = [];
  for (const m of message.matchAll(colon)) {
    const lineEnd = message.indexOf('\n', m.index + m[0].length);
    const rest = message.slice(m.index + m[0].length, lineEnd === -1 ? undefined : lineEnd);
    mentions.push({ line: Number(m[1]), column: m[2] ? Number(m[2]) : null, error: /\berror\b/i.test(rest) });
  }
  const chosen = mentions.find((m) => m.error) || mentions[0];
  if (chosen) return { line: chosen.line, column: chosen.column };

  const words = new RegExp(`${path}:? line (\\d+)`);
  const m = words.exec(message);
  if (m) return { line: Number(m[1]), column: null };
  return null;
}
