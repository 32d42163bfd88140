/* The dashboard's controls: a range, period or organisation picked from a list reloads the page
   with it in the URL (bookmarkable); editing a date makes the range custom, shown with "Show". */
(function () {
  "use strict";

  const form = document.getElementById("dashboard-controls");
  const range = form.elements.range;
  const dates = [form.elements.start, form.elements.end];

  form.addEventListener("change", function (event) {
    if (dates.indexOf(event.target) >= 0) {
      range.value = "custom";
    } else if (event.target.tagName === "SELECT" && !(event.target === range && range.value === "custom")) {
      form.requestSubmit();
    }
  });
  // A preset's days come from the server: its dates stay out of the URL.
  form.addEventListener("submit", function () {
    dates.forEach(function (input) { input.disabled = range.value !== "custom"; });
  });
  window.addEventListener("pageshow", function () {
    dates.forEach(function (input) { input.disabled = false; });
  });
})();
