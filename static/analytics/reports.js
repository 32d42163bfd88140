/* Each section's "Request report" buttons: the request is made with the session, shown in the
   section and followed until its file is ready, then offered for download (no reload). */
(function () {
  "use strict";

  const dashboard = window.AnalyticsDashboard;
  const config = dashboard.config, element = dashboard.element;
  const POLL_MS = 2000;
  const FINISHED = ["succeeded", "failed", "cancelled"];

  function showReport(item, report) {
    const name = report.report_type + " report (" + report.format.toUpperCase() + ", " +
      report.filters.start_date + " to " + report.filters.end_date + ")";
    item.dataset.status = report.status;
    item.replaceChildren(element("span", {}, name + ": "));
    if (report.status === "succeeded") {
      item.append(element("a", { class: "button report-download", href: dashboard.withOrganization(report.links.download), download: "" },
        "Download " + report.format.toUpperCase()));
    } else if (FINISHED.indexOf(report.status) >= 0) {
      item.append(element("span", { class: "report-failed" }, report.status + (report.error ? ": " + report.error : "")));
    } else {
      item.append(element("span", { class: "report-progress" }, report.status + ", " + report.progress + " %"));
    }
  }

  function follow(item, report) {
    showReport(item, report);
    if (FINISHED.indexOf(report.status) >= 0) return;
    window.setTimeout(function () {
      dashboard.callJson(report.links.self).then(
        function (next) { follow(item, next); },
        function (error) { item.append(element("span", { class: "report-failed" }, " " + error.message)); }
      );
    }, POLL_MS);
  }

  function requestReport(button) {
    const type = button.dataset.reportType;
    const item = element("li", {}, "Asking for the " + type + " report…");
    document.querySelector("[data-report-list=" + type + "]").prepend(item);
    dashboard.callJson(config.report_request_url, {}, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrf_token },
      body: JSON.stringify({
        report_type: type,
        format: button.dataset.reportFormat,
        filters: { start_date: config.start_date, end_date: config.end_date },
      }),
    }).then(function (report) { follow(item, report); }, function (error) {
      item.replaceChildren(element("span", { class: "report-failed" }, "The report could not be requested: " + error.message));
    });
  }

  document.querySelectorAll("[data-report-type]").forEach(function (button) {
    button.addEventListener("click", function () { requestReport(button); });
  });
})();
