/*
 * smallbot chat widget: one <script> tag embeds a chat bubble in any page.
 *
 *   <script src="https://bot.example.com/widget.js" data-title="Help" data-greeting="Hi!"
 *           data-accent="#0f766e" data-position="right" data-placeholder="Ask a question" async></script>
 *
 * No framework and no cooperation from the host page: everything lives in a shadow root on a
 * <smallbot-widget> element, so page styles do not leak in and ours do not leak out. Theme it with
 * CSS custom properties on that element (--smallbot-accent, --smallbot-bg, ...) or the data-attributes.
 * Bot and user text only ever reach the DOM through textContent (never innerHTML). Bot replies are
 * Markdown (FAQ answers are written in it): a safe subset is rendered by building elements, see below.
 * The conversation id and the rendered history live in localStorage, so a reload keeps the chat;
 * the WebSocket reconnects with exponential back-off after the server restarts.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.__smallbotWidget) return;
  window.__smallbotWidget = true;

  var server = new URL(script.src, location.href).origin;
  var data = script.dataset;
  var cfg = {
    title: data.title || "Chat with us",
    greeting: data.greeting || "Hi! How can I help?",
    placeholder: data.placeholder || "Type your question",
    position: data.position === "left" ? "left" : "right",
    accent: data.accent || "",
    open: data.open === "true"
  };
  var STORE_KEY = "smallbot:" + server;
  var MAX_HISTORY = 60;
  var MAX_BACKOFF_MS = 15000;

  // -- state -------------------------------------------------------------------------------------
  var state = loadState();
  var ws = null, attempts = 0, reconnectTimer = null, wanted = false;
  var pending = [];  // bot bubbles waiting for their reply, oldest first (replies come in order)

  // The server issues the conversation id (in the first reply); until then there is none to send.
  function loadState() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE_KEY) || "null");
      if (saved && (typeof saved.conversation_id === "string" || saved.conversation_id === null) &&
          Array.isArray(saved.history)) return saved;
    } catch (e) { /* storage blocked or corrupt: start fresh */ }
    return { conversation_id: null, history: [], open: false };
  }
  function saveState() {
    state.history = state.history.slice(-MAX_HISTORY);
    try { window.localStorage.setItem(STORE_KEY, JSON.stringify(state)); } catch (e) { /* in-memory only */ }
  }

  // -- DOM ---------------------------------------------------------------------------------------
  var SVG_NS = "http://www.w3.org/2000/svg";
  var ICONS = {  // inline SVG: emoji fonts are missing on many systems
    chat: "M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z",
    thumb: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 " +
      "7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"
  };
  function icon(name, flip) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "icon" + (flip ? " flip" : ""));
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var host = document.createElement("smallbot-widget");
  host.setAttribute("data-position", cfg.position);
  host.setAttribute("data-connection", "idle");
  if (cfg.accent) host.style.setProperty("--smallbot-accent", cfg.accent);
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: server + "/widget.css" }));

  var launcher = el("button", { type: "button", "class": "launcher", "aria-expanded": "false",
    "aria-controls": "smallbot-panel", "aria-label": "Open chat: " + cfg.title });
  launcher.appendChild(icon("chat"));
  launcher.appendChild(el("span", { "class": "launcher-label" }, cfg.title));

  var panel = el("section", { id: "smallbot-panel", "class": "panel", role: "dialog",
    "aria-labelledby": "smallbot-title", "aria-modal": "false" });
  panel.hidden = true;
  var header = el("header", { "class": "header" });
  header.appendChild(el("h2", { id: "smallbot-title", "class": "title" }, cfg.title));
  var status = el("span", { "class": "status", role: "status", "aria-live": "polite" }, "");
  header.appendChild(status);
  var closeButton = el("button", { type: "button", "class": "close", "aria-label": "Close chat" }, "\u00D7");
  header.appendChild(closeButton);
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-label": "Conversation",
    tabindex: "0" });
  var form = el("form", { "class": "composer" });
  var label = el("label", { "for": "smallbot-input", "class": "visually-hidden" }, "Your message");
  var input = el("input", { id: "smallbot-input", type: "text", autocomplete: "off", maxlength: "1000",
    placeholder: cfg.placeholder });
  var send = el("button", { type: "submit", "class": "send" }, "Send");
  form.appendChild(label); form.appendChild(input); form.appendChild(send);
  panel.appendChild(header); panel.appendChild(log); panel.appendChild(form);
  root.appendChild(panel); root.appendChild(launcher);

  // -- Markdown: a safe subset, built from elements ------------------------------------------------
  // **bold**, *italic*, `code`, [links](https://...), <https://...>, bare http(s) URLs, - and 1. lists,
  // ``` fences, # headings (shown bold), paragraphs and line breaks. Every piece of text goes in through
  // textContent or a text node and no HTML is ever parsed, so "<img onerror=...>" in a reply shows as
  // those characters. A link keeps only an http:, https: or mailto: target (checked after the URL parser
  // has normalised it); any other ("javascript:", "data:") leaves its label as plain text.
  var WEB_LINKS = { "http:": true, "https:": true };
  var MD_LINKS = { "http:": true, "https:": true, "mailto:": true };
  var MAX_NESTING = 4;  // **_x_** nests; a hostile answer cannot recurse deeper than this

  function safeLink(href, protocols) {
    try {
      var url = new URL(href, server);
      return (protocols || WEB_LINKS)[url.protocol] === true ? url.href : null;
    } catch (e) { return null; }
  }

  function link(href, label, depth) {
    var safe = safeLink(href, MD_LINKS);
    if (!safe) return document.createTextNode(label);
    var a = el("a", { href: safe, target: "_blank", rel: "noopener noreferrer" });
    inline(label, a, depth + 1, false);
    return a;
  }

  function wrap(tag) {
    return function (m, depth, links) {
      var node = el(tag);
      inline(m[m.length - 1], node, depth + 1, links);
      return node;
    };
  }

  // earliest match wins; at the same position, the first in this list. `lead`: a captured character before
  // the marker (underscores count only at a word's edge, so snake_case stays as typed).
  var INLINE = [
    { re: /`([^`\n]+)`/, make: function (m) { return el("code", null, m[1]); } },
    { re: /\[([^\]\n]+)\]\(\s*<?([^\s()<>]+)>?(?:\s+"[^"\n]*")?\s*\)/, link: true,
      make: function (m, depth) { return link(m[2], m[1], depth); } },
    { re: /<((?:https?|mailto):[^\s<>]+)>/, link: true, make: function (m, depth) { return link(m[1], m[1], depth); } },
    { re: /\bhttps?:\/\/[^\s<>()]*[^\s<>().,:;!?"'\]]/, link: true,
      make: function (m, depth) { return link(m[0], m[0], depth); } },
    { re: /\*\*(\S(?:[\s\S]*?\S)?)\*\*/, make: wrap("strong") },
    { re: /(^|\W)__(\S(?:[\s\S]*?\S)?)__(?!\w)/, lead: true, make: wrap("strong") },
    { re: /\*(\S(?:[^*\n]*?\S)?)\*/, make: wrap("em") },
    { re: /(^|\W)_(\S(?:[^_\n]*?\S)?)_(?!\w)/, lead: true, make: wrap("em") }
  ];

  function inline(text, parent, depth, links) {
    if (links === undefined) links = true;
    while (text) {
      var best = null, at = text.length;
      if (depth < MAX_NESTING) {
        INLINE.forEach(function (rule) {
          if (rule.link && !links) return;
          var m = rule.re.exec(text);
          if (!m) return;
          var start = m.index + (rule.lead ? m[1].length : 0);
          if (start < at) { best = { rule: rule, m: m, start: start }; at = start; }
        });
      }
      if (!best) { parent.appendChild(document.createTextNode(text)); return; }
      if (at > 0) parent.appendChild(document.createTextNode(text.slice(0, at)));
      parent.appendChild(best.rule.make(best.m, depth, links));
      text = text.slice(best.m.index + best.m[0].length);
    }
  }

  var LIST_ITEM = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
  var HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
  var FENCE = /^\s*```/;

  function renderMarkdown(container, text) {
    container.textContent = "";
    var para = null, list = null, item = null, code = null;
    String(text || "").replace(/\r\n?/g, "\n").split("\n").forEach(function (line) {
      if (code) {  // inside a ``` fence: verbatim until the closing fence
        if (FENCE.test(line)) code = null;
        else code.textContent += (code.textContent ? "\n" : "") + line;
        return;
      }
      if (FENCE.test(line)) {
        para = list = item = null;
        var pre = el("pre");
        code = pre.appendChild(el("code"));
        container.appendChild(pre);
        return;
      }
      if (!line.trim()) { para = item = null; return; }  // a blank line ends a paragraph; a list may go on
      var m = LIST_ITEM.exec(line);
      if (m) {
        var tag = /\d/.test(m[1]) ? "ol" : "ul";
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = container.appendChild(el(tag));
          var start = parseInt(m[1], 10);
          if (tag === "ol" && start !== 1) list.setAttribute("start", String(start));
        }
        para = null;
        item = list.appendChild(el("li"));
        inline(m[2], item, 0);
        return;
      }
      if (item) {  // the line goes on the list item above it (Markdown's lazy continuation)
        item.appendChild(el("br"));
        inline(line.trim(), item, 0);
        return;
      }
      list = null;
      var h = HEADING.exec(line);
      if (h) {
        para = null;
        inline(h[1], container.appendChild(el("p", { "class": "heading" })).appendChild(el("strong")), 0);
        return;
      }
      if (para) para.appendChild(el("br"));
      else para = container.appendChild(el("p"));
      inline(line, para, 0);
    });
  }

  // -- rendering (elements and textContent only) ----------------------------------------------------
  function setText(node, text, markdown) {
    var body = node.querySelector(".text");
    body.className = markdown ? "text md" : "text";
    if (markdown) renderMarkdown(body, text); else body.textContent = text;
  }

  function bubble(role, text, markdown) {
    var item = el("div", { "class": "msg " + role });
    item.appendChild(el("div", { "class": "text" }));
    setText(item, text, markdown);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function finishBotBubble(item, entry, isLast) {
    item.className = "msg bot kind-" + (entry.kind || "answer");
    item.removeAttribute("aria-busy");
    var hasButtons = isLast && entry.suggestions && entry.suggestions.length;
    var related = entry.kind === "answer";  // under an answer the buttons are "Related" questions
    // the numbered list in a "did you mean" text is for plain-text channels; here the buttons carry it
    setText(item, hasButtons && !related ? entry.text.split("\n")[0] : entry.text, true);
    (entry.sources || []).forEach(function (source) {
      var line = el("p", { "class": "source" }, "Source: ");
      var href = source.links && source.links.length ? safeLink(source.links[0]) : null;
      if (href) {
        var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, source.question);
        line.appendChild(a);
      } else {
        line.appendChild(document.createTextNode(source.question));
      }
      item.appendChild(line);
    });
    if (hasButtons) {
      var group = el("div", { "class": "suggestions", role: "group",
        "aria-label": related ? (entry.suggestions_label || "Related") : "Suggestions" });
      // the label is the bot's own words (bot.yml messages.related), sent with the reply
      if (related && entry.suggestions_label) group.appendChild(el("p", { "class": "related" }, entry.suggestions_label));
      entry.suggestions.forEach(function (s) {
        var button = el("button", { type: "button", "class": "suggestion" }, s.text);
        button.addEventListener("click", function () { submit(s.text); });
        group.appendChild(button);
      });
      item.appendChild(group);
    }
    if (entry.message_id && entry.kind !== "error") item.appendChild(feedbackButtons(entry));
    log.scrollTop = log.scrollHeight;
  }

  function feedbackButtons(entry) {
    var group = el("div", { "class": "feedback", role: "group", "aria-label": "Was this helpful?" });
    [["up", "Helpful"], ["down", "Not helpful"]].forEach(function (f) {
      var button = el("button", { type: "button", "class": "rate rate-" + f[0], "aria-label": f[1], title: f[1],
        "aria-pressed": entry.feedback === f[0] ? "true" : "false" });
      button.appendChild(icon("thumb", f[0] === "down"));
      button.addEventListener("click", function () {
        if (entry.feedback) return;
        entry.feedback = f[0];
        saveState();
        group.querySelectorAll("button").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
          b.disabled = true;
        });
        postJSON("/api/feedback", { conversation_id: state.conversation_id, message_id: entry.message_id,
          score: f[0] }).catch(function () { /* feedback is best effort */ });
      });
      if (entry.feedback) button.disabled = true;
      group.appendChild(button);
    });
    return group;
  }

  function renderHistory() {
    log.textContent = "";
    bubble("bot greeting", cfg.greeting);
    state.history.forEach(function (entry, i) {
      if (entry.role === "user") { bubble("user", entry.text); return; }
      finishBotBubble(bubble("bot", ""), entry, i === state.history.length - 1);
    });
  }

  function clearSuggestions() {
    log.querySelectorAll(".suggestions").forEach(function (g) { g.remove(); });
  }

  // -- transport ---------------------------------------------------------------------------------
  function setConnection(value, words) {
    host.setAttribute("data-connection", value);
    status.textContent = words;
  }

  function connect() {
    wanted = true;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
    clearTimeout(reconnectTimer);
    setConnection("connecting", attempts ? "Reconnecting\u2026" : "");
    var socket;
    try {
      socket = new WebSocket(server.replace(/^http/, "ws") + "/api/ws");
    } catch (e) { scheduleReconnect(); return; }
    ws = socket;
    socket.onopen = function () { attempts = 0; setConnection("open", ""); };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      var item = pending[0];
      if (frame.type === "chunk" && item) {
        item.streamed = (item.streamed || "") + frame.text;
        scheduleRender(item);
      } else if (frame.type === "reply" && item) {
        pending.shift();
        receive(item, frame.reply);
      } else if (frame.type === "error" && item) {
        pending.shift();
        fail(item, forgetStaleConversation(frame.error) ? EXPIRED : (frame.reason || "Something went wrong."));
      }
    };
    socket.onclose = function () {
      if (ws === socket) ws = null;
      // replies in flight on this socket are lost: say so rather than wait forever
      pending.splice(0).forEach(function (item) { fail(item, "Connection lost. Please send that again."); });
      if (wanted) scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempts)) * (0.75 + Math.random() / 2);
    attempts += 1;
    setConnection("closed", "Reconnecting\u2026");
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  // An id this server no longer accepts (its key was reset with the build): the next message starts afresh.
  var EXPIRED = "This chat has expired. Please send that again.";
  function forgetStaleConversation(error) {
    if (error !== "unknown_conversation") return false;
    state.conversation_id = null;
    saveState();
    return true;
  }

  function postJSON(path, body) {
    return fetch(server + path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), credentials: "omit" }).then(function (response) {
      return response.json().then(function (payload) {
        if (!response.ok) {
          throw new Error(forgetStaleConversation(payload.error) ? EXPIRED : (payload.reason || ("HTTP " + response.status)));
        }
        return payload;
      });
    });
  }

  // Streamed text is rendered as Markdown as it grows, at most once per frame (a long answer arriving in
  // many chunks re-renders a few times, not once per chunk); a marker not yet closed shows as typed until
  // its pair arrives, and the finished reply is rendered once more from its full text.
  function scheduleRender(item) {
    if (item.frame) return;
    item.frame = window.requestAnimationFrame(function () {
      item.frame = 0;
      if (item.done) return;
      setText(item.node, item.streamed, true);
      log.scrollTop = log.scrollHeight;
    });
  }

  function receive(item, reply) {
    item.done = true;
    if (typeof reply.conversation_id === "string" && reply.conversation_id) state.conversation_id = reply.conversation_id;
    var entry = { role: "bot", kind: reply.kind, text: reply.text, sources: reply.sources || [],
      suggestions: reply.suggestions || [], message_id: reply.message_id,
      suggestions_label: typeof reply.suggestions_label === "string" ? reply.suggestions_label : "" };
    state.history.push(entry);
    saveState();
    finishBotBubble(item.node, entry, true);
  }

  function fail(item, reason) {
    item.done = true;
    item.node.removeAttribute("aria-busy");
    item.node.className = "msg bot error";
    setText(item.node, reason, false);
  }

  function submit(text) {
    text = (text || "").trim();
    if (!text) return;
    clearSuggestions();
    state.history.push({ role: "user", text: text });
    saveState();
    bubble("user", text);
    var node = bubble("bot pending", "\u2026");
    node.setAttribute("aria-busy", "true");
    var item = { node: node };
    var body = { type: "message", text: text };
    if (state.conversation_id) body.conversation_id = state.conversation_id;
    if (ws && ws.readyState === WebSocket.OPEN) {
      pending.push(item);
      ws.send(JSON.stringify(body));
    } else {
      // no socket right now (reconnecting): the REST endpoint answers the same way
      postJSON("/api/messages", body).then(function (reply) { receive(item, reply); },
        function (error) { fail(item, error.message || "Could not reach the server."); });
    }
  }

  // -- behaviour ---------------------------------------------------------------------------------
  function setOpen(open, focus) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.setAttribute("aria-label", (open ? "Close chat: " : "Open chat: ") + cfg.title);
    host.setAttribute("data-open", open ? "true" : "false");
    state.open = open;
    saveState();
    if (open) {
      connect();
      if (focus) input.focus();
      log.scrollTop = log.scrollHeight;
    } else if (focus) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(panel.hidden, true); });
  closeButton.addEventListener("click", function () { setOpen(false, true); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.stopPropagation(); setOpen(false, true); }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    submit(text);
  });

  function mount() {
    document.body.appendChild(host);
    renderHistory();
    setOpen(state.open || cfg.open, false);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
