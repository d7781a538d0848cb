// A plain Node SSE server (no library): the sse profile's non-Python target.
//   node sse_server.mjs  ->  prints "Listening: http://127.0.0.1:PORT"; the stream is at /v1/jobs/42/progress
// Events every 300 ms with increasing ids, a ': ping' comment every second, replay after Last-Event-ID.
import http from "node:http";

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/healthz") { res.writeHead(200, { "content-type": "text/plain" }); res.end("ok"); return; }
  if (url.pathname !== "/v1/jobs/42/progress") { res.writeHead(404); res.end("not found"); return; }
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no",
  });
  res.flushHeaders();
  let id = Number.parseInt(req.headers["last-event-id"] ?? "0", 10) || 0;
  res.write("retry: 2000\n\n");
  const tick = setInterval(() => { id += 1; res.write(`id: ${id}\nevent: progress\ndata: {"pct": ${id}}\n\n`); }, 300);
  const ping = setInterval(() => res.write(": ping\n\n"), 1000);
  res.on("close", () => { clearInterval(tick); clearInterval(ping); });
});
server.listen(0, "127.0.0.1", () => console.log(`Listening: http://127.0.0.1:${server.address().port}`));
