// The screening player: frame stepping, the source timecode, and storyboard thumbnails over a
// keyboard-operable position bar. Everything it needs is in the data-* attributes of
// [data-player]; styles are set through the CSSOM (allowed by the page's CSP).
(function () {
  "use strict";

  var TIMECODE = /^(\d{2}):(\d{2}):(\d{2})([:;.])(\d{2})$/;

  function parseRate(text) {
    var parts = String(text || "25/1").split("/");
    var num = Number(parts[0]);
    var den = Number(parts[1] || 1);
    if (!(num > 0) || !(den > 0)) { num = 25; den = 1; }
    return { num: num, den: den, value: num / den };
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // The same rule as transcode/timecode.py: the start timecode plus elapsed frames,
  // drop-frame (";") at 29.97 and 59.94 fps.
  function dropped(nominal) { return Math.floor(2 * nominal / 30); }

  function countToLabel(count, nominal) {
    var drop = dropped(nominal);
    var perTen = 10 * 60 * nominal - 9 * drop;
    var perMinute = 60 * nominal - drop;
    var tens = Math.floor(count / perTen);
    var rest = count % perTen;
    var skipped = 9 * drop * tens;
    if (rest > drop) { skipped += drop * Math.floor((rest - drop) / perMinute); }
    return count + skipped;
  }

  function labelToCount(label, nominal) {
    var minutes = Math.floor(label / (60 * nominal));
    return label - dropped(nominal) * (minutes - Math.floor(minutes / 10));
  }

  function timecodeAt(start, rate, seconds) {
    var nominal = Math.max(1, Math.round(rate.value));
    var match = TIMECODE.exec(start || "");
    var drop = !!(match && match[4] === ";" && (nominal === 30 || nominal === 60));
    var base = 0;
    if (match) {
      var label0 = ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * nominal + Number(match[5]);
      base = drop ? labelToCount(label0, nominal) : label0;
    }
    var count = base + Math.floor(Math.max(seconds, 0) * rate.value + 1e-6);
    var label = drop ? countToLabel(count, nominal) : count;
    var frames = label % nominal;
    var total = Math.floor(label / nominal);
    return pad(Math.floor(total / 3600) % 24) + ":" + pad(Math.floor(total / 60) % 60) + ":" +
      pad(total % 60) + (drop ? ";" : ":") + pad(frames);
  }

  function cueSeconds(text) {
    var parts = text.trim().split(":").map(Number);
    var seconds = 0;
    for (var i = 0; i < parts.length; i++) { seconds = seconds * 60 + parts[i]; }
    return seconds;
  }

  // WebVTT cues "start --> end" followed by "sheet.jpg#xywh=x,y,w,h".
  function parseStoryboard(text, sprites) {
    var cues = [];
    var blocks = text.replace(/\r/g, "").split(/\n\n+/);
    blocks.forEach(function (block) {
      var lines = block.split("\n");
      for (var i = 0; i < lines.length - 1; i++) {
        if (lines[i].indexOf("-->") === -1) { continue; }
        var times = lines[i].split("-->");
        var target = lines[i + 1].trim();
        var hash = target.indexOf("#xywh=");
        if (hash === -1) { continue; }
        var name = target.slice(0, hash).split("/").pop();
        var box = target.slice(hash + 6).split(",").map(Number);
        if (!sprites[name] || box.length !== 4) { continue; }
        cues.push({
          start: cueSeconds(times[0]), end: cueSeconds(times[1].trim().split(/\s+/)[0]),
          url: sprites[name], x: box[0], y: box[1], w: box[2], h: box[3]
        });
      }
    });
    return cues;
  }

  function cueAt(cues, seconds) {
    for (var i = 0; i < cues.length; i++) {
      if (seconds >= cues[i].start && seconds < cues[i].end) { return cues[i]; }
    }
    return cues.length && seconds >= cues[cues.length - 1].end ? cues[cues.length - 1] : null;
  }

  function setUp(root) {
    var video = root.querySelector("video");
    var seek = root.querySelector("input[type=range]");
    var output = root.querySelector("output");
    var tooltip = root.querySelector(".storyboard-tooltip");
    var frame = tooltip.querySelector(".storyboard-frame");
    var label = tooltip.querySelector(".storyboard-time");
    var rate = parseRate(root.dataset.frameRate);
    var start = root.dataset.startTimecode;
    var cues = [];
    var sprites = {};
    try { sprites = JSON.parse(root.dataset.sprites || "{}"); } catch (e) { sprites = {}; }

    if (root.dataset.storyboardVtt) {
      fetch(root.dataset.storyboardVtt, { credentials: "omit" })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (text) { cues = parseStoryboard(text, sprites); })
        .catch(function () { cues = []; });
    }

    function showTimecode() { output.value = timecodeAt(start, rate, video.currentTime); }

    function duration() { return isFinite(video.duration) && video.duration > 0 ? video.duration : Number(seek.max) || 0; }

    function preview(seconds, fraction) {
      var cue = cueAt(cues, seconds);
      label.textContent = timecodeAt(start, rate, seconds);
      if (cue) {
        frame.style.width = cue.w + "px";
        frame.style.height = cue.h + "px";
        frame.style.backgroundImage = "url(\"" + cue.url.replace(/"/g, "%22") + "\")";
        frame.style.backgroundPosition = (-cue.x) + "px " + (-cue.y) + "px";
        frame.hidden = false;
      } else {
        frame.hidden = true;
      }
      tooltip.style.left = Math.min(Math.max(fraction, 0), 1) * 100 + "%";
      tooltip.hidden = false;
    }

    function hide() { tooltip.hidden = true; }

    // Aim at the middle of the target frame: a seek to its exact start may land on the
    // frame before it once the float arithmetic rounds down.
    function step(frames) {
      video.pause();
      var current = Math.floor(video.currentTime * rate.value + 1e-3);
      var last = Math.max(Math.floor(duration() * rate.value) - 1, 0);
      var target = Math.min(Math.max(current + frames, 0), last);
      video.currentTime = (target + 0.5) / rate.value;
      showTimecode();
    }

    function onMetadata() {
      seek.max = String(duration());
      // Opened from a subtitle search hit: start where the words are spoken.
      var startAt = Number(root.dataset.startAt);
      if (startAt > 0 && startAt < duration()) { video.currentTime = startAt; seek.value = String(startAt); }
      showTimecode();
    }
    video.addEventListener("loadedmetadata", onMetadata);
    // A cached proxy may have its metadata before this deferred script runs: the event
    // then came and went, so act on it now.
    if (video.readyState >= 1) { onMetadata(); }
    video.addEventListener("timeupdate", function () { seek.value = String(video.currentTime); showTimecode(); });
    video.addEventListener("seeked", showTimecode);
    seek.step = String(1 / rate.value);
    seek.addEventListener("input", function () {
      video.currentTime = Number(seek.value);
      var total = duration();
      preview(Number(seek.value), total ? Number(seek.value) / total : 0);
    });
    seek.addEventListener("mousemove", function (event) {
      var box = seek.getBoundingClientRect();
      var fraction = box.width ? (event.clientX - box.left) / box.width : 0;
      preview(Math.min(Math.max(fraction, 0), 1) * duration(), fraction);
    });
    seek.addEventListener("mouseleave", function () { if (document.activeElement !== seek) { hide(); } });
    seek.addEventListener("focus", function () {
      var total = duration();
      preview(Number(seek.value), total ? Number(seek.value) / total : 0);
    });
    seek.addEventListener("blur", hide);

    root.querySelectorAll("button[data-step]").forEach(function (button) {
      button.addEventListener("click", function () { step(Number(button.dataset.step)); });
    });
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var typing = target && (target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
        (target.tagName === "INPUT" && target.type !== "range"));
      if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (event.key === ",") { event.preventDefault(); step(-1); }
      if (event.key === ".") { event.preventDefault(); step(1); }
    });
    showTimecode();
  }

  function init() { document.querySelectorAll("[data-player]").forEach(setUp); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
