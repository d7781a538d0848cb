// A Cloudflare Worker in front of an SSE status API that does not break the streams.
//
// Two rules (docs/cloudflare.md explains them):
//   1. Forward the incoming request itself: `fetch(request)`, or `new Request(newUrl, request)` to change
//      only the URL. Both keep the method, the body and every header — Last-Event-ID (resume), Cookie
//      (a browser EventSource authenticates with it) and Authorization.
//      NOT `fetch(url, { headers: { ...request.headers } })`: spreading a Headers object yields `{}`,
//      so all three are silently dropped (the stream answers 401, or resumes start from scratch).
//   2. Return the origin's Response without reading its body. `await response.text()` (or .json(),
//      .arrayBuffer(), or a TransformStream that collects) waits for the end of the stream: every event
//      arrives in one burst at the end, and an idle stream never answers at all.
//
// Check it: sse-harness check https://YOUR-WORKER-HOST --dev-login alice --compare https://YOUR-ORIGIN
// (tests/conformance/test_cloudflare_worker.py runs this file under Node against the real API.)

export default {
  async fetch(request, env) {
    let upstream = request;
    if (env && env.ORIGIN) {
      // Optional: send to another origin host. new Request(url, request) copies method, headers and body.
      const url = new URL(request.url);
      upstream = new Request(new URL(url.pathname + url.search, env.ORIGIN), request);
    }
    const response = await fetch(upstream);

    // To add a response header, wrap the body stream (not its contents) — this still streams:
    //   const out = new Response(response.body, response);
    //   out.headers.set("X-Served-By", "worker");
    //   return out;
    return response;
  },
};
