// The DataHost page's behaviour: the upload with a progress bar (XMLHttpRequest's upload
// progress events), names the server would refuse turned into a storable one the person can
// change, and the plot of the user's transfer rates (uPlot, served from this package).
(function () {
  "use strict";

  var UNITS = ["B", "kB", "MB", "GB", "TB"];

  // Powers of 1000, as the page states (the server's si_bytes filter writes the same).
  function siBytes(count) {
    if (count < 1000) { return count + " B"; }
    var value = count, unit = 0;
    while (value >= 1000 && unit < UNITS.length - 1) { value /= 1000; unit += 1; }
    return value.toFixed(2) + " " + UNITS[unit];
  }

  // names.py's suggest_name: accents dropped, other characters "_", no leading dot.
  function suggestName(name, pattern) {
    if (pattern.test(name)) { return name; }
    var plain = name.normalize("NFKD").replace(/[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g, "");
    var candidate = plain.replace(/[^A-Za-z0-9._+=,@%-]+/g, "_").replace(/^\.+/, "").slice(0, 255);
    return pattern.test(candidate) ? candidate : "file";
  }

  function show(element, text) { element.textContent = text; element.hidden = !text; }

  function showNote() {
    var note = window.sessionStorage && sessionStorage.getItem("datahost-note");
    if (!note) { return; }
    sessionStorage.removeItem("datahost-note");
    var list = document.createElement("ul");
    list.className = "messages";
    list.id = "page-note";
    var item = document.createElement("li");
    item.className = "success";
    item.textContent = note;
    list.appendChild(item);
    var header = document.querySelector("header");
    header.parentNode.insertBefore(list, header.nextSibling);
  }

  function setUpUpload() {
    var form = document.getElementById("upload");
    if (!form) { return; }
    var pattern = new RegExp(form.dataset.namePattern);
    var input = document.getElementById("upload-file");
    var nameField = document.getElementById("upload-name");
    var renameNote = document.getElementById("upload-rename");
    var report = document.getElementById("upload-error");
    var box = document.getElementById("upload-progress-box");
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var cancel = document.getElementById("upload-cancel");
    var button = document.getElementById("upload-button");
    var request = null;

    input.addEventListener("change", function () {
      show(report, "");
      if (!input.files.length) { return; }
      var own = input.files[0].name;
      var suggested = suggestName(own, pattern);
      nameField.value = suggested;
      show(renameNote, suggested === own ? "" :
        "“" + own + "” cannot be stored under its own name (" + form.dataset.nameRule +
        "): it will be saved as “" + suggested + "”; change the name above if you prefer another.");
    });

    cancel.addEventListener("click", function () { if (request) { request.abort(); } });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(report, "");
      if (!input.files.length) { return; }
      var file = input.files[0];
      var name = nameField.value.trim() || file.name;
      if (!pattern.test(name)) {
        nameField.value = suggestName(name, pattern);
        show(report, "“" + name + "” is not a name the DataHost can store (" + form.dataset.nameRule +
          "): “" + nameField.value + "” is suggested above; press Upload again to use it.");
        return;
      }
      var query = "?name=" + encodeURIComponent(name) + "&size=" + file.size;
      if (document.getElementById("overwrite").checked) { query += "&overwrite=1"; }
      // Ask first whether the server will take it (name free, quota enough): a refused upload
      // then costs no bytes. The server checks again when the body arrives.
      fetch("/datahost/transmit/" + query, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
        .then(function (answer) {
          if (!answer[0]) { show(report, answer[1].error); return; }
          send(file, name, query);
        })
        .catch(function (error) { show(report, "The server could not be asked: " + error); });
    });

    function send(file, name, query) {
      var data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      data.append("file2xmit", file, name);
      var started = performance.now();
      request = new XMLHttpRequest();
      request.open("POST", "/datahost/transmit/" + query);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      bar.value = 0;
      bar.max = 100;
      box.dataset.events = "0";
      box.hidden = false;
      button.disabled = true;
      show(status, "Sending " + name + " (" + siBytes(file.size) + ")…");
      request.upload.addEventListener("progress", function (event) {
        if (!event.lengthComputable) { return; }
        var seconds = (performance.now() - started) / 1000;
        var sent = Math.min(event.loaded, file.size);
        bar.value = event.total ? 100 * event.loaded / event.total : 0;
        box.dataset.events = String(Number(box.dataset.events) + 1);
        status.textContent = siBytes(sent) + " of " + siBytes(file.size) + " sent" +
          (seconds > 0.2 ? ", " + (event.loaded / seconds / 1e6).toFixed(2) + " MB/s" : "");
      });
      request.upload.addEventListener("load", function () {
        bar.value = 100;
        status.textContent = siBytes(file.size) + " sent; the server is checking and storing it…";
      });
      request.addEventListener("load", function () {
        var body = {}, code = request.status;
        try { body = JSON.parse(request.responseText); } catch (ignored) { body = {}; }
        request = null;
        button.disabled = false;
        if (body.name && !body.error) {
          sessionStorage.setItem("datahost-note", "Uploaded " + body.name + " (" + siBytes(body.size) + ", " +
            Number(body.mb_per_s).toFixed(2) + " MB/s).");
          window.location.assign("/datahost/");
          return;
        }
        box.hidden = true;
        show(report, body.error || ("The upload failed: HTTP " + code));
      });
      request.addEventListener("error", function () {
        request = null;
        button.disabled = false;
        box.hidden = true;
        show(report, "The upload of " + name + " failed: the connection to the server was lost.");
      });
      request.addEventListener("abort", function () {
        request = null;
        button.disabled = false;
        box.hidden = true;
        show(report, "The upload of " + name + " was cancelled; nothing was stored.");
      });
      request.send(data);
    }
  }

  function setUpPlot() {
    var holder = document.getElementById("rate-plot");
    var source = document.getElementById("rate-points");
    if (!holder || !source) { return; }
    var points = JSON.parse(source.textContent);
    var kinds = [["upload", "upload", "#1f77b4"], ["download", "download", "#2ca02c"], ["pull", "upload from URL", "#d62728"]];
    var times = [];
    kinds.forEach(function (kind) { (points[kind[0]] || []).forEach(function (p) { times.push(p[0]); }); });
    if (!times.length || !window.uPlot) { document.getElementById("rate-plot-empty").hidden = false; return; }
    times = Array.from(new Set(times)).sort(function (a, b) { return a - b; });
    var index = new Map(times.map(function (t, i) { return [t, i]; }));
    var data = [times];
    var series = [{label: "finished (UTC)"}];
    kinds.forEach(function (kind) {
      var column = times.map(function () { return null; });
      (points[kind[0]] || []).forEach(function (p) { column[index.get(p[0])] = p[1]; });
      data.push(column);
      series.push({
        label: kind[1] + " MB/s", stroke: kind[2], fill: kind[2], width: 0,
        paths: function () { return null; }, points: {show: true, space: 0, size: 8, stroke: kind[2], fill: kind[2]},
      });
    });
    var options = {
      width: Math.max(320, holder.clientWidth || 800), height: 280, series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      // A few points close together (or one) still get a readable time axis: at least an hour.
      scales: {x: {time: true, range: function (u, min, max) {
        var pad = Math.max((max - min) * 0.05, 1800);
        return [min - pad, max + pad];
      }}, y: {range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }}},
      axes: [{}, {label: "MB/s"}],
    };
    window.datahostPlot = new uPlot(options, data, holder);
    holder.dataset.points = String(times.length);
  }

  document.addEventListener("DOMContentLoaded", function () {
    showNote();
    setUpUpload();
    setUpPlot();
  });
}());
