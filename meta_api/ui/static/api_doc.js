// /api/doc/: the API's OpenAPI document in the vendored Swagger UI, with nothing fetched
// from elsewhere (no online validator badge). assetdav's own API and the faces of the
// systems it replaces are shown one at a time (?part=compat for the faces).
"use strict";

const part = new URLSearchParams(window.location.search).get("part") === "compat"
  ? "compat"
  : "native";
for (const link of document.querySelectorAll("[data-part]")) {
  if (link.dataset.part === part) link.setAttribute("aria-current", "page");
}
SwaggerUIBundle({
  url: `/api/openapi.json?part=${part}`,
  dom_id: "#doc",
  validatorUrl: null,
  deepLinking: true,
});
