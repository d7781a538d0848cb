// The demo index: dev login, create a session, start a simulated transcription, open its status page.
// Errors from the API are shown in words (a 422 names the form field); nothing here needs a framework.
const API = "/api/v1";
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const errorBox = $("index-error");

function showError(message) {
  errorBox.hidden = !message;
  errorBox.textContent = message ?? "";
}

/** Form labels for the fields the API names in a 422 (`loc` = ["body", field]). */
const LABELS = { username: "Username", title: "Title", profile: "Profile", steps: "Steps",
  interval_ms: "Interval (ms)", fail_at: "Fail at step" };

/** An API error in words for the person filling in the form (never the JSON body). */
async function reason(response) {
  if (response.status === 401) return "Sign in first (step 1), then start the transcription.";
  let detail = null;
  try {
    detail = (await response.json()).detail;
  } catch {
    // not JSON: the status code says enough
  }
  if (Array.isArray(detail)) {
    const problems = detail.map((e) => {
      const field = (e.loc ?? []).slice(1).join(".");
      const msg = String(e.msg ?? "invalid").replace(/^Value error, /, ""); // pydantic's prefix for validators
      return field ? `${LABELS[field] ?? field}: ${msg}` : msg;
    });
    return `Check the form: ${problems.join("; ")}.`;
  }
  if (typeof detail === "string" && detail.length <= 200) {
    return `The server refused: ${detail} (HTTP ${response.status}).`;
  }
  return `The server answered HTTP ${response.status}; try again in a moment.`;
}

async function api(path, body) {
  let response;
  try {
    response = await fetch(`${API}${path}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error("Cannot reach the server; check that it is running and try again.");
  }
  if (!response.ok) throw new Error(await reason(response));
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
