/* Crew position sharing (dashboard/crew_gps.py): the browser's geolocation, posted to
 * POST /api/crews/positions with the crew leader's session cookie (dashboard/crew_positions_api.py).
 *
 * Runs in the page itself (st.html with JavaScript), so the browser asks the leader's permission
 * for the page's own origin, and only after the leader switched sharing on. One watch per page:
 * every rerun of the Streamlit script runs this again with the current settings, and it only
 * starts or stops the watch and redraws the status line.
 *
 * In poor coverage fixes wait in localStorage and go in order once the connection is back; each
 * keeps the time it was taken, so the geofence dates the arrival by the fixes, not the upload.
 * Nothing is silently dropped: refused fixes and a full queue are said on the status line.
 * No library, no network but our own route.
 */
(function (config) {
  "use strict";
  var QUEUE_KEY = "outage-desk.crew-gps.queue." + config.crew;
  var state = window.__outageDeskCrewGps || (window.__outageDeskCrewGps = {
    watch: null, sending: false, lastTaken: 0, note: "", timer: null, config: config
  });
  state.config = config;
  var words = config.words;

  function queue() {
    try { return JSON.parse(window.localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }
  function keep(items) {
    try { window.localStorage.setItem(QUEUE_KEY, JSON.stringify(items)); } catch (e) { /* storage full */ }
  }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, name) { return values[name] === undefined ? "" : values[name]; });
  }
  function clock(iso) {
    var d = new Date(iso);
    return d.toLocaleTimeString(config.locale, {hour: "2-digit", minute: "2-digit", timeZone: config.tz});
  }
  function show(text) {
    state.note = text;
    var line = document.getElementById("crew-gps-status");
    if (!line) { return; }
    var waiting = queue().length;
    line.textContent = text + (waiting ? " " + fill(words.waiting, {n: waiting}) : "");
    line.setAttribute("data-waiting", String(waiting));
  }

  function onFix(position) {
    var taken = position.timestamp || Date.now();
    // One fix every few seconds is plenty for a 60 s dwell; the watch may fire many times a second.
    if (taken - state.lastTaken < config.everySeconds * 1000) { return; }
    state.lastTaken = taken;
    var items = queue();
    items.push({
      lon: position.coords.longitude,
      lat: position.coords.latitude,
      at: new Date(taken).toISOString(),
      accuracy_m: Math.round(position.coords.accuracy * 10) / 10
    });
    if (items.length > config.maxQueued) {
      var lost = items.length - config.maxQueued;
      items = items.slice(lost);
      show(fill(words.queue_full, {n: lost}));
    }
    keep(items);
    send();
  }

  function onError(error) {
    show(error.code === 1 ? words.denied : fill(words.no_fix, {reason: error.message || error.code}));
  }

  function send() {
    var items = queue();
    if (state.sending || !items.length) { return; }
    var batch = items.slice(0, config.batch);
    state.sending = true;
    fetch(config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(batch)
    }).then(function (answer) {
      return answer.json().catch(function () { return {}; }).then(function (body) {
        return {status: answer.status, body: body};
      });
    }).then(function (reply) {
      state.sending = false;
      if (reply.status === 201 || reply.status === 422) {
        keep(queue().slice(batch.length));  // taken or refused with a reason: sent either way
        var last = batch[batch.length - 1];
        if (reply.status === 422) {
          var errors = reply.body.errors || [];
          var first = errors.length ? errors[0].reason : "";
          show(fill(words.refused, {n: errors.length, reason: first}));
        } else {
          show(fill(words.sent, {time: clock(last.at), accuracy: Math.round(last.accuracy_m)}));
        }
        if ((reply.body.arrived || []).length) { show(words.arrived); }
        if (queue().length) { send(); }
      } else if (reply.status === 401) {
        show(words.signed_out);
      } else {
        show(fill(words.retry, {status: reply.status}));
      }
    }).catch(function () {
      state.sending = false;
      show(words.offline);
    });
  }

  state.send = send;
  if (config.share && navigator.geolocation) {
    if (state.watch === null) {
      show(words.waiting_fix);
      state.watch = navigator.geolocation.watchPosition(onFix, onError, {
        enableHighAccuracy: true, maximumAge: 5000, timeout: 60000
      });
    } else {
      show(state.note || words.waiting_fix);
    }
    if (state.timer === null) {
      state.timer = window.setInterval(function () { state.send(); }, config.retrySeconds * 1000);
    }
    send();
  } else {
    if (state.watch !== null) { navigator.geolocation.clearWatch(state.watch); state.watch = null; }
    if (state.timer !== null) { window.clearInterval(state.timer); state.timer = null; }
    state.note = "";
    show(config.share ? words.unsupported : words.off);
  }
})(__CONFIG__);
