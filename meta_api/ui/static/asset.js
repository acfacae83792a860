// An asset's page: description and tags edited in place through the API.
"use strict";

const article = document.getElementById("asset");
const edit = document.getElementById("edit");
if (edit) {
  const status = document.getElementById("edit-status");
  edit.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Saving…";
    const tags = edit.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    const response = await fetch(article.dataset.metaUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ description: edit.description.value, tags }),
    });
    if (!response.ok) {
      status.textContent = await apiError(response);
      return;
    }
    const saved = await response.json();
    edit.tags.value = saved.tags.join(", ");
    status.textContent = "Saved.";
  });
}

// The zoomable view of a dzi worker's tiles, with the vendored OpenSeadragon.
const zoom = document.getElementById("zoom");
if (zoom && window.OpenSeadragon) {
  OpenSeadragon({
    element: zoom,
    tileSources: zoom.dataset.dzi,
    prefixUrl: "/ui/static/vendor/openseadragon-6.1.1/images/",
    showNavigator: true,
  });
}
