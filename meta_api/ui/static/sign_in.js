// Sign in: POST /api/auth asks the server to keep the token in an HttpOnly cookie.
"use strict";

const form = document.getElementById("sign-in");
const problem = document.getElementById("sign-in-error");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  problem.hidden = true;
  const button = form.querySelector("button");
  button.disabled = true;
  const started = Date.now();
  try {
    const response = await api("/api/auth", {
      method: "POST",
      signingIn: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: form.user.value, password: form.password.value, cookie: true }),
    });
    if (response.ok) {
      window.location.assign(form.dataset.next || "/ui/");
      return;
    }
    let text = await apiError(response);
    if (Date.now() - started > 1500) {
      text += " (the server waited before answering: several failed sign-ins came from here)";
    }
    problem.textContent = text;
    problem.hidden = false;
  } finally {
    button.disabled = false;
  }
});
