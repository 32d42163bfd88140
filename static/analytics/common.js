/* What the dashboard's scripts share: the page's configuration, making elements, JSON calls
   with the session. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The organisation rides on every call: the API answers for the one the page shows.
  function withOrganization(url, query) {
    const address = new URL(url, window.location.href);
    address.searchParams.set("org", config.organization);
    Object.keys(query || {}).forEach(function (name) { address.searchParams.set(name, query[name]); });
    return address.pathname + address.search;
  }

  function callJson(url, query, options) {
    const request = Object.assign({ credentials: "same-origin" }, options);
    request.headers = Object.assign({ Accept: "application/json" }, request.headers);
    return fetch(withOrganization(url, query), request).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.detail || body.message || response.statusText);
        return body;
      });
    });
  }

  window.AnalyticsDashboard = { config: config, element: element, withOrganization: withOrganization, callJson: callJson };
})();
