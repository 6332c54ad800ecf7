/*
 * weir chat client: live chat beside a stream, with danmaku flying across
 * the video. No dependencies, no build step.
 *
 *   <script src="/chat.js"></script>
 *   <script>
 *     WeirChat.attach({app: "live", stream: "test",
 *                      video: document.querySelector("video"),
 *                      list: document.querySelector("#chat"),
 *                      input: document.querySelector("#say")});
 *   </script>
 *
 * Options: app, stream (required); video (an element whose parent gets the
 * danmaku layer), list (an element that gets the message list), input (an
 * <input>: Enter sends), nick (optional nickname), token (join token for
 * rooms that need one: a string, or a function returning one, called at
 * every connection so that it can hand out a fresh one), server (base URL of the
 * weir that serves the endpoint API; default: where this script came
 * from), danmaku (start with danmaku on; default true), status (element
 * for the connection state; default: a badge added next to the list).
 *
 * The client asks /api/v1/chat/endpoint for the WebSocket URL before each
 * connection (a cluster may send it elsewhere), pings every 10 s, treats
 * 25 s without any frame from the server as a dead connection, and
 * reconnects with exponential backoff (1 s doubling to 30 s) plus jitter.
 * Styles come from /chat.css, linked by this script unless the page links
 * it already. Protocol: docs/chat.md.
 */
(function (global) {
  "use strict";

  var HEARTBEAT_MS = 10000;
  var DEAD_MS = 25000;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  var LIST_MAX = 200;
  // Close codes after which reconnecting would only repeat the refusal.
  var FINAL_CODES = { 4002: "kicked by a moderator", 4003: "closed for flooding" };

  var scriptBase = (function () {
    var s = document.currentScript;
    return s && s.src ? new URL(".", s.src).href : location.origin + "/";
  })();

  /* Links /chat.css from where this script came from, unless the page
   * already links a chat.css: a stylesheet file (not an injected <style>)
   * keeps pages with a `style-src 'self'` policy working. */
  function addStyle() {
    var links = document.querySelectorAll('link[rel~="stylesheet"]');
    for (var i = 0; i < links.length; i++) {
      if (/(^|\/)chat\.css(\?|$)/.test(links[i].getAttribute("href") || "")) return;
    }
    var el = document.createElement("link");
    el.rel = "stylesheet";
    el.href = scriptBase + "chat.css";
    document.head.appendChild(el);
  }

  function Chat(opts) {
    if (!opts || !opts.app || !opts.stream) throw new Error("WeirChat.attach needs app and stream");
    this.opts = opts;
    this.server = opts.server ? String(opts.server).replace(/\/?$/, "/") : scriptBase;
    this.ws = null;
    this.state = "idle";
    this.user = null;
    this.attempt = 0;
    this.closed = false;
    this.lastFrame = 0;
    this.timers = {};
    this.seen = {};
    this.handlers = {};
    this.lanes = [];
    addStyle();
    this._buildUi();
    this.connect();
  }

  Chat.prototype.on = function (type, fn) {
    (this.handlers[type] = this.handlers[type] || []).push(fn);
    return this;
  };

  Chat.prototype._emit = function (type, ev) {
    (this.handlers[type] || []).forEach(function (fn) {
      try { fn(ev); } catch (e) { console.error(e); }
    });
  };

  Chat.prototype._buildUi = function () {
    var o = this.opts;
    var self = this;
    if (o.video && o.video.parentNode) {
      var box = o.video.parentNode;
      if (getComputedStyle(box).position === "static") box.style.position = "relative";
      this.layer = document.createElement("div");
      this.layer.className = "weir-danmaku";
      if (o.danmaku === false) this.layer.classList.add("off");
      box.appendChild(this.layer);
    }
    if (o.list) o.list.classList.add("weir-chat-list");
    this.stateEl = o.status || null;
    if (!this.stateEl && (o.list || o.input)) {
      this.stateEl = document.createElement("span");
      var anchor = o.input || o.list;
      anchor.parentNode.insertBefore(this.stateEl, anchor);
    }
    if (this.stateEl) this.stateEl.classList.add("weir-chat-state");
    if (o.input) {
      o.input.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && !e.isComposing) {
          e.preventDefault();
          if (self.send(o.input.value)) o.input.value = "";
        }
      });
    }
  };

  Chat.prototype._setState = function (state, detail) {
    this.state = state;
    if (this.stateEl) {
      this.stateEl.dataset.state = state;
      this.stateEl.textContent = detail ? state + ": " + detail : state;
    }
    this._emit("state", { state: state, detail: detail || "" });
  };

  /* Asks the endpoint API where to connect, then opens the socket. */
  Chat.prototype.connect = function () {
    var self = this;
    if (this.closed) return;
    this._setState("connecting");
    var q = "api/v1/chat/endpoint?app=" + encodeURIComponent(this.opts.app) +
      "&stream=" + encodeURIComponent(this.opts.stream);
    fetch(this.server + q, { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("endpoint API answered " + r.status);
        return r.json();
      })
      .then(function (ep) { self._open(ep.url); })
      .catch(function (e) { self._retry(String(e.message || e)); });
  };

  Chat.prototype._open = function (url) {
    var self = this;
    if (this.closed) return;
    var ws;
    try { ws = new WebSocket(url); } catch (e) { return this._retry(String(e)); }
    this.ws = ws;
    ws.onopen = function () {
      self.attempt = 0;
      self.lastFrame = Date.now();
      if (self.opts.nick) {
        var token = typeof self.opts.token === "function" ? self.opts.token() : self.opts.token;
        self._raw(token ? { type: "join", nick: self.opts.nick, token: String(token) }
                        : { type: "join", nick: self.opts.nick });
      }
      self._startHeartbeat();
    };
    ws.onmessage = function (e) {
      self.lastFrame = Date.now();
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      self._event(ev);
    };
    ws.onclose = function (e) {
      if (self.ws !== ws) return;
      self.ws = null;
      self._stopHeartbeat();
      if (FINAL_CODES[e.code]) {
        self.closed = true;
        self._system(FINAL_CODES[e.code]);
        self._setState("offline", FINAL_CODES[e.code]);
        return;
      }
      self._retry(e.reason || "closed (" + e.code + ")");
    };
  };

  Chat.prototype._retry = function (why) {
    var self = this;
    if (this.closed) return;
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, this.attempt));
    // Full jitter on half the delay: a server restart does not bring every
    // viewer back in the same millisecond.
    var delay = base / 2 + Math.random() * base / 2;
    this.attempt = Math.min(this.attempt + 1, 10);
    this._setState("offline", why + "; retrying in " + Math.round(delay / 1000) + " s");
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(function () { self.connect(); }, delay);
  };

  Chat.prototype._startHeartbeat = function () {
    var self = this;
    this._stopHeartbeat();
    this.timers.ping = setInterval(function () {
      if (Date.now() - self.lastFrame > DEAD_MS) {
        // The server went quiet: the socket may be dead without a close
        // event ever coming. Drop it and reconnect.
        var ws = self.ws;
        self.ws = null;
        self._stopHeartbeat();
        if (ws) try { ws.close(); } catch (e) { /* already closing */ }
        self._retry("no answer from the server");
        return;
      }
      self._raw({ type: "ping" });
    }, HEARTBEAT_MS);
  };

  Chat.prototype._stopHeartbeat = function () {
    clearInterval(this.timers.ping);
  };

  Chat.prototype._raw = function (obj) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  };

  /* Sends a chat message; false if not connected or empty. */
  Chat.prototype.send = function (text) {
    text = String(text || "").trim();
    if (!text) return false;
    return this._raw({ type: "chat", text: text });
  };

  /* Danmaku on or off (returns the new state). */
  Chat.prototype.toggleDanmaku = function (on) {
    if (!this.layer) return false;
    var off = on === undefined ? !this.layer.classList.contains("off") : !on;
    this.layer.classList.toggle("off", off);
    if (off) this.layer.textContent = "";
    return !off;
  };

  Chat.prototype.close = function () {
    this.closed = true;
    clearTimeout(this.timers.retry);
    this._stopHeartbeat();
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this._setState("closed");
  };

  Chat.prototype._event = function (ev) {
    switch (ev.type) {
      case "welcome":
        this.user = ev.user;
        this._setState("connected", ev.user + " · " + ev.members + " here");
        break;
      case "history":
        (ev.messages || []).forEach(function (m) { this._chat(m, false); }, this);
        break;
      case "chat":
        this._chat(ev, true);
        break;
      case "delete":
        this._remove(ev.id);
        break;
      case "join":
        this._system(ev.user + " joined");
        break;
      case "leave":
        this._system(ev.user + (ev.reason === "kicked" ? " was kicked" : " left"));
        break;
      case "stream":
        this._system(ev.live ? "the stream is live" : "the stream went offline");
        break;
      case "mute":
        this._system(ev.until ? ev.user + " is muted" : ev.user + " may speak again");
        break;
      case "members":
        if (this.state === "connected" && this.user) {
          this._setState("connected", this.user + " · " + ev.count + " here");
        }
        break;
      case "error":
        this._line("err", ev.message || ev.code);
        break;
    }
    this._emit(ev.type, ev);
  };

  Chat.prototype._chat = function (m, fly) {
    // History after a reconnect repeats messages already shown.
    if (this.seen[m.id]) return;
    this.seen[m.id] = true;
    if (this.opts.list) {
      var row = document.createElement("div");
      row.className = "msg";
      row.dataset.id = m.id;
      var who = document.createElement("b");
      who.textContent = m.user;
      row.appendChild(who);
      row.appendChild(document.createTextNode(m.text));
      this._append(row);
    }
    if (fly) this._fly(m);
  };

  Chat.prototype._system = function (text) {
    this._line("sys", text);
  };

  Chat.prototype._line = function (cls, text) {
    if (!this.opts.list) return;
    var row = document.createElement("div");
    row.className = cls;
    row.textContent = text;
    this._append(row);
  };

  Chat.prototype._append = function (row) {
    var list = this.opts.list;
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.appendChild(row);
    while (list.childNodes.length > LIST_MAX) {
      var first = list.firstChild;
      if (first.dataset && first.dataset.id) delete this.seen[first.dataset.id];
      list.removeChild(first);
    }
    if (atBottom) list.scrollTop = list.scrollHeight;
  };

  Chat.prototype._remove = function (id) {
    var sel = '[data-id="' + Number(id) + '"]';
    [this.opts.list, this.layer].forEach(function (root) {
      if (!root) return;
      var el = root.querySelector(sel);
      if (el) el.remove();
    });
  };

  /* One comment flying right to left, in the lane that frees up first. */
  Chat.prototype._fly = function (m) {
    var layer = this.layer;
    if (!layer || layer.classList.contains("off")) return;
    var width = layer.clientWidth || 640;
    var laneHeight = 28;
    var lanes = Math.max(1, Math.floor((layer.clientHeight || 360) * 0.75 / laneHeight));
    var now = Date.now();
    var lane = 0;
    for (var i = 0; i < lanes; i++) {
      if (!this.lanes[i] || this.lanes[i] <= now) { lane = i; break; }
      if (this.lanes[i] < this.lanes[lane]) lane = i;
    }
    var el = document.createElement("span");
    el.textContent = m.text;
    el.dataset.id = m.id;
    el.style.top = lane * laneHeight + 4 + "px";
    layer.appendChild(el);
    var travel = width + el.offsetWidth;
    var ms = 8000;
    // The lane is free once this comment's tail has entered the screen.
    this.lanes[lane] = now + ms * (el.offsetWidth + 16) / travel;
    var anim = el.animate(
      [{ transform: "translateX(0)" }, { transform: "translateX(" + -travel + "px)" }],
      { duration: ms, easing: "linear" }
    );
    anim.onfinish = function () { el.remove(); };
  };

  global.WeirChat = {
    attach: function (opts) { return new Chat(opts); },
  };
})(window);
