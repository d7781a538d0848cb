// Runs a Cloudflare Worker module under Node (>= 18: fetch, Request, Response built in) as an HTTP
// server, routed the way Cloudflare routes a proxied hostname: the Request handed to the worker carries
// the origin's URL, so the worker's own `fetch(request)` reaches the origin.
//   node host.mjs WORKER.js http://ORIGIN:PORT   ->  prints "Listening: http://127.0.0.1:PORT"
import http from "node:http";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";

const [workerPath, origin] = process.argv.slice(2);
const worker = (await import(pathToFileURL(workerPath).href)).default;
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                     "upgrade", "host"]);

const server = http.createServer(async (req, res) => {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP.has(name)) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const abort = new AbortController();
  res.on("close", () => abort.abort());  // the client went away: cancel the origin request too
  const hasBody = !["GET", "HEAD"].includes(req.method);
  const request = new Request(new URL(req.url, origin), {
    method: req.method, headers, signal: abort.signal,
    ...(hasBody ? { body: Readable.toWeb(req), duplex: "half" } : {}),
  });
  let response;
  try {
    response = await worker.fetch(request, {}, { waitUntil() {}, passThroughOnException() {} });
  } catch (err) {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
    res.end(`worker threw: ${err}`);
    return;
  }
  const out = [];
  response.headers.forEach((value, name) => {
    if (!HOP.has(name) && name !== "set-cookie") out.push([name, value]);
  });
  const cookies = typeof response.headers.getSetCookie === "function"
    ? response.headers.getSetCookie()                              // Node >= 19.7
    : [response.headers.get("set-cookie")].filter(Boolean);        // one cookie is all the API sets
  for (const cookie of cookies) out.push(["set-cookie", cookie]);
  res.writeHead(response.status, out.flat());
  res.flushHeaders();
  if (!response.body) {
    res.end();
    return;
  }
  try {
    for await (const chunk of response.body) res.write(chunk);
    res.end();
  } catch {
    res.destroy();  // the origin cut the stream: cut ours too
  }
});

server.listen(0, "127.0.0.1", () => {
  console.log(`Listening: http://127.0.0.1:${server.address().port}`);
});
