// The demo index: dev login, create a session, start a simulated transcription, open its status page.
// Errors from the API are shown with the API's own reason; nothing here needs a framework.
const API = "/api/v1";
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const errorBox = $("index-error");

function showError(message) {
  errorBox.hidden = !message;
  errorBox.textContent = message ?? "";
}

async function reason(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) {
      return body.detail.map((e) => `${(e.loc ?? []).slice(1).join(".") || "body"}: ${e.msg}`).join("; ");
    }
  } catch {
    // fall through to the status line
  }
  return `HTTP ${response.status}`;
}

async function api(path, body) {
  const response = await fetch(`${API}${path}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${await reason(response)}`);
  return response.json();
}

async function refreshSignedIn(username) {
  if (username) {
    $("signed-in-as").textContent = `Signed in as ${username}.`;
    return;
  }
  // The cookie is HttpOnly: ask the API whether it recognises us.
  const response = await fetch(`${API}/streams/me`, { credentials: "same-origin" });
  $("signed-in-as").textContent = response.ok ? "Signed in." : "Not signed in.";
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const username = new FormData(event.target).get("username");
  try {
    await api("/auth/dev-login", { username });
    await refreshSignedIn(username);
  } catch (error) {
    showError(error.message);
  }
});

document.getElementById("job-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const form = new FormData(event.target);
  const params = {
    profile: form.get("profile"),
    steps: Number(form.get("steps")),
    interval_ms: Number(form.get("interval_ms")),
  };
  if (form.get("fail_at")) params.fail_at = Number(form.get("fail_at"));
  try {
    const session = await api("/sessions", { title: form.get("title") });
    await api(`/sessions/${session.id}/transcribe`, params);
    location.assign(`/sessions/${session.id}`);
  } catch (error) {
    showError(error.message);
  }
});

refreshSignedIn(null).catch(() => {});
