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

const signOut = document.getElementById("sign-out");
if (signOut) {
  signOut.addEventListener("click", async () => {
    await fetch("/api/auth", { method: "DELETE", credentials: "same-origin" });
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
