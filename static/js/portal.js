/* Tenantry's own behaviour. No inline handlers anywhere: everything hangs off data-* attributes.
 *
 * data-confirm="message"   on a <form> (or a submit <button>/<a>): ask before going ahead.
 *                          Without JavaScript the action simply runs; destructive services still
 *                          ask for a reason or a typed confirmation server-side where it matters.
 * data-copy="#selector"    on a <button>: copy the target's text to the clipboard.
 * Forms with errors get focus on their first invalid field, so screen readers land on it.
 */
(function () {
  "use strict";

  function confirmAction(message) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(message));
    }
    document.getElementById("confirm-dialog-message").textContent = message;
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "confirm");
      });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  // Forms: confirm once, then submit for real (keeping the clicked button's name/value).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter || null;
    var message = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (!message || form.dataset.confirmed === "1") { return; }
    event.preventDefault();
    confirmAction(message).then(function (ok) {
      if (!ok) { return; }
      form.dataset.confirmed = "1";
      if (typeof form.requestSubmit === "function") { form.requestSubmit(submitter); } else { form.submit(); }
    });
  }, true);

  // Links that do something destructive (rare: most are forms).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm]");
    if (!link) { return; }
    event.preventDefault();
    confirmAction(link.dataset.confirm).then(function (ok) { if (ok) { window.location.href = link.href; } });
  });

  // htmx's hx-confirm uses our dialog instead of window.confirm.
  document.addEventListener("htmx:confirm", function (event) {
    if (!event.detail.question) { return; }
    event.preventDefault();
    confirmAction(event.detail.question).then(function (ok) { if (ok) { event.detail.issueRequest(true); } });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button || !navigator.clipboard) { return; }
    var target = document.querySelector(button.dataset.copy);
    if (!target) { return; }
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var invalid = document.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (invalid) { invalid.setAttribute("aria-invalid", "true"); invalid.focus(); }
  });
})();
