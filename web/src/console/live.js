// The live figures: `GET /api/v1/console/live` read with fetch, so the admin key goes in an
// Authorization header (EventSource cannot send one, and a key in the URL would end up in
// access logs and the browser's history). The body is parsed as text/event-stream here.

/** An HTTP answer other than 200 to the stream's request. */
export class StreamRefused extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

/**
 * Read the event stream until it ends or `signal` aborts: `onEvent(name, data)` for each
 * event (data as text). Throws StreamRefused for a non-200 answer.
 */
export async function readEvents(url, token, onEvent, signal) {
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (!response.ok) {
    let message = '';
    try {
      message = (await response.json()).error || '';
    } catch {
      // Not JSON: the status says enough.
    }
    throw new StreamRefused(response.status, message);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a comment (keep-alive)
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') name = text;
        else if (field === 'data') data.push(text);
      }
      if (data.length) onEvent(name, data.join('\n'));
    }
  }
}
