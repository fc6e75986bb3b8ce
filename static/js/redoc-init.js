/* Start Redoc on the schema URL the page names (no inline script: CSP). */
(function () {
  "use strict";
  // Redoc's sidebar footer always shows a "by Redocly" logo from cdn.redoc.ly. The portal makes
  // no third-party requests (and its img-src would block this one, logging a CSP violation), so
  // the logo's address becomes a blank local image before the browser ever fetches it.
  var BLANK = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
  function local(name, value) {
    var text = String(value);
    return name.toLowerCase() === "src" && text.indexOf("https://cdn.redoc.ly/") === 0 ? BLANK : value;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttribute.call(this, name, this instanceof HTMLImageElement ? local(name, value) : value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) { src.set.call(this, local("src", value)); },
  });

  var container = document.getElementById("redoc-container");
  if (container && window.Redoc) {
    window.Redoc.init(container.dataset.specUrl, { hideDownloadButton: false }, container);
  }
})();
