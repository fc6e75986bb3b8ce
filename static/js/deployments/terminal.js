// xterm.js terminal: local line editing, one line per message; the portal checks and runs it.
(function () {
  "use strict";
  const root = document.querySelector("[data-terminal-socket]");
  if (!root || !window.Terminal) return;
  // xterm.js adds <style> elements for its layout and theme, and our CSP takes only styles that
  // carry this page's nonce. Stamp the nonce on every <style> created from now on, at creation
  // (before insertion, where it counts), so the terminal is styled without 'unsafe-inline'.
  const nonce = document.currentScript ? document.currentScript.nonce : "";
  if (nonce) {
    const createElement = Document.prototype.createElement;
    Document.prototype.createElement = function (tagName, options) {
      const element = createElement.call(this, tagName, options);
      if (String(tagName).toLowerCase() === "style") element.setAttribute("nonce", nonce);
      return element;
    };
  }
  const term = new window.Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000 });
  const fit = window.FitAddon ? new window.FitAddon.FitAddon() : null;
  if (fit) term.loadAddon(fit);
  term.open(root);
  if (fit) fit.fit();
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + root.dataset.terminalSocket);
  let line = "";
  socket.onmessage = function (event) {
    const message = JSON.parse(event.data);
    if (message.type === "output") term.write(message.data);
    if (message.type === "error") term.write("\r\n\x1b[31m" + message.message + "\x1b[0m\r\n");
  };
  socket.onclose = function () { term.write("\r\n[session closed]\r\n"); };
  term.onData(function (data) {
    if (socket.readyState !== WebSocket.OPEN) return;
    for (const ch of data) {
      if (ch === "\r") {
        term.write("\r\n");
        socket.send(JSON.stringify({ type: "line", data: line }));
        line = "";
      } else if (ch === "\x7f") {
        if (line.length) { line = line.slice(0, -1); term.write("\b \b"); }
      } else if (ch >= " ") {
        line += ch;
        term.write(ch);
      }
    }
  });
})();
