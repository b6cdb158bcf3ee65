// Starts Swagger UI on /api/docs (an external file: the pages' CSP allows no inline script).
(function () {
  var el = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: el.dataset.openapiUrl, dom_id: '#swagger-ui', deepLinking: true, showExtensions: true,
    showCommonExtensions: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: 'BaseLayout'
  });
})();
