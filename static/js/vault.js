// Vault pages: the copy button of a revealed value. Loaded as a file (strict CSP, no inline JS).
(function () {
  "use strict";
  function copy(button) {
    var id = button.getAttribute("data-copy-target");
    var field = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!field) { return; }
    var done = function () { if (status) { status.textContent = "Copied."; } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        if (status) { status.textContent = "Copy failed: select the text and copy it."; }
      });
    } else {
      field.focus();
      field.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* selection stays for a manual copy */ }
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { copy(button); }
  });
}());
