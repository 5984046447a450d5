// crisiseval annotate: keyboard shortcuts of the item page. Served from the package (the page's
// Content-Security-Policy admits only this file); it never reads or writes answers itself — it
// clicks the page's own buttons and links, so every answer goes through the form.
(function () {
  "use strict";
  document.documentElement.setAttribute("data-js", "on");
  var form = document.getElementById("answer-form");
  if (!form) {
    return;
  }
  function typing(el) {
    if (!el || !el.tagName) {
      return false;
    }
    var tag = el.tagName.toLowerCase();
    return tag === "textarea" || (tag === "input" && el.type === "text");
  }
  function click(id) {
    var el = document.getElementById(id);
    if (el) {
      el.click();
    }
  }
  function follow(id) {
    var link = document.getElementById(id);
    if (link && link.href) {
      window.location.assign(link.href);
    }
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.isComposing) {
      return;
    }
    if (typing(ev.target)) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        click("save");
      } else if (ev.key === "Escape") {
        ev.target.blur();
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey) {
      return;
    }
    var key = ev.key;
    if (/^[1-9]$/.test(key)) {
      var radio = form.querySelector('input[name="value"][data-key="' + key + '"]');
      if (radio) {
        ev.preventDefault();
        radio.checked = true;
        click("save");
      }
    } else if (key === "n") {
      ev.preventDefault();
      follow("next");
    } else if (key === "p") {
      ev.preventDefault();
      follow("prev");
    } else if (key === "s") {
      ev.preventDefault();
      click("skip");
    } else if (key === "f") {
      ev.preventDefault();
      var flag = document.getElementById("flag");
      var note = document.getElementById("note");
      if (flag) {
        flag.checked = true;
      }
      if (note) {
        note.focus();
      }
    }
  });
})();
