// run.test.js again, on a server that requires keys (`--require-keys`), every page opened by a
// class link with a classroom key (see KEYS_MODE in harness.js).
process.env.TIDERUN_BROWSER_KEYS = '1';
await import('./run.test.js');
