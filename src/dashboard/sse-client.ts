import http from 'node:http';

export interface SseConnection {
  close(): void;
}

/**
 * A minimal Server-Sent Events reader (Node has no EventSource in v20): calls `onEvent` per event
 * and `onClose` once when the stream ends for any reason other than `close()`.
 */
export function connectSse(url: string, onEvent: (event: string, data: string) => void, onClose: (err?: Error) => void): SseConnection {
  let closed = false;
  let ended = false;
  const end = (err?: Error): void => {
    if (ended) return;
    ended = true;
    if (!closed) onClose(err);
  };
  const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      end(new Error(`${url} answered HTTP ${res.statusCode}`));
      return;
    }
    res.setEncoding('utf8');
    let buf = '';
    let event = 'message';
    let data: string[] = [];
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (data.length > 0) {
            try {
              onEvent(event, data.join('\n'));
            } catch {
              // A bad event must not end the stream.
            }
          }
          event = 'message';
          data = [];
        } else if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
    });
    res.on('end', () => end());
    res.on('error', (err) => end(err));
  });
  req.on('error', (err) => end(err));
  return {
    close() {
      closed = true;
      req.destroy();
    },
  };
}
