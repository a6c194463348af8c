// report_check.js — injected by tests/cli_report.sh at the top of a copy of a report page before
// it is rendered in headless Chromium. It counts script errors and failed loads from the start,
// and once the page has loaded writes a marker into the DOM: how many <img> elements decoded
// (complete, with a natural width above 0) out of all, and how many errors there were, so that
// the dumped DOM tells whether every picture is there and the page ran cleanly.
(function () {
  var errors = 0;
  window.addEventListener("error", function () { errors++; }, true); // scripts and failed loads
  var consoleError = console.error;
  console.error = function () { errors++; consoleError.apply(console, arguments); };
  window.addEventListener("load", function () {
    var images = document.images, decoded = 0;
    for (var i = 0; i < images.length; i++) {
      if (images[i].complete && images[i].naturalWidth > 0) decoded++;
      else console.error("image " + i + " did not load: " + images[i].alt);
    }
    var marker = document.createElement("div");
    marker.id = "fovea-check";
    marker.textContent = "FOVEA-IMAGES " + decoded + "/" + images.length + " FOVEA-ERRORS " + errors;
    document.body.appendChild(marker);
  });
})();
