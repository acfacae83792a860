// What every page of the asset browser shares: copy buttons and signing out.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch (error) {
    button.textContent = "Select and copy it";
  }
});

// Every call of the JSON API from a page: the cookie goes along, and the header tells the
// server not to answer 401 with a challenge (the browser would show its own password
// dialog); a 401 sends the person to the sign-in form, then back here.
const XHR = { "X-Requested-With": "XMLHttpRequest" };

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: { ...XHR, ...(options.headers || {}) },
  });
  if (response.status === 401 && !options.signingIn) {
    const here = window.location.pathname + window.location.search;
    window.location.assign(`/ui/sign-in?next=${encodeURIComponent(here)}`);
  }
  return response;
}

const signOut = document.getElementById("sign-out");
if (signOut) {
  signOut.addEventListener("click", async () => {
    await api("/api/auth", { method: "DELETE" });
    window.location.assign("/ui/sign-in");
  });
}

// The JSON API's errors are {title, description}: one line for a person.
async function apiError(response) {
  try {
    const body = await response.json();
    return `${body.title}: ${body.description}`;
  } catch (error) {
    return `${response.status} ${response.statusText}`;
  }
}
