// The common broken pass-through: `{ ...request.headers }` on a Headers object is `{}`, so Cookie,
// Authorization and Last-Event-ID never reach the origin.
export default {
  async fetch(request) {
    return fetch(request.url, { method: request.method, headers: { ...request.headers } });
  },
};
