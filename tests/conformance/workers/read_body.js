// The other broken pass-through: reading the body before answering waits for the end of the stream.
export default {
  async fetch(request) {
    const response = await fetch(request);
    const text = await response.text();
    return new Response(text, response);
  },
};
