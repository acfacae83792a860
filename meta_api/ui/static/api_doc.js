// /api/doc/: the API's OpenAPI document in the vendored Swagger UI, with nothing fetched
// from elsewhere (no online validator badge).
"use strict";

SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#doc",
  validatorUrl: null,
  deepLinking: true,
});
