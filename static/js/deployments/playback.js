// Plays a recorded terminal session (asciicast v2) with asciinema-player.
(function () {
  "use strict";
  const root = document.querySelector("[data-cast]");
  if (root && window.AsciinemaPlayer) window.AsciinemaPlayer.create(root.dataset.cast, root, { fit: "width" });
})();
