// Starts Swagger UI on /api/docs. A file of its own, not an inline script, because the shop's
// Content-Security-Policy runs only same-origin scripts; the page passes its settings as data-*.
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // The public validator would send the schema to another site (and the CSP refuses it).
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
