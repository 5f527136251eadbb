// The storefront's script: live updates and conveniences on top of pages
// that work without it (forms post, order pages refresh themselves).
"use strict";
document.documentElement.classList.add("js");

const pad = (n) => String(n).padStart(2, "0");

function announce(message) {
  const el = document.getElementById("announce");
  if (!el) return;
  el.textContent = "";
  setTimeout(() => { el.textContent = message; }, 50);
}

// Times in the reader's own zone, the UTC text kept beside them.
function localTimes(root) {
  for (const t of root.querySelectorAll("time[data-local]")) {
    if (t.dataset.done) continue;
    const d = new Date(t.dateTime);
    if (isNaN(d)) continue;
    const local = d.toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
    t.dataset.utc = t.textContent;
    t.textContent = local + " (" + t.textContent + ")";
    t.dataset.done = "1";
  }
}

function left(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d > 0) return d + " d " + h + " h " + pad(m) + " min";
  if (h > 0) return h + " h " + pad(m) + " min";
  return m + " min " + pad(s % 60) + " s";
}

function tickCountdowns() {
  for (const el of document.querySelectorAll("[data-countdown]")) {
    const ms = new Date(el.dataset.countdown) - Date.now();
    el.textContent = ms > 0 ? ", " + left(ms) + " left" : ", " + el.dataset.done;
  }
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "visually-hidden";
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand("copy");
    ta.remove();
    return ok;
  }
}

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-copy]");
  if (btn) {
    const ok = await copy(btn.dataset.copy);
    announce(ok ? (btn.dataset.copied || "Copied") : "Copy failed: select the text and copy it");
    return;
  }
  const preset = e.target.closest("a[data-hours]");
  const hours = document.getElementById("hours");
  if (preset && hours) {
    e.preventDefault();
    hours.value = preset.dataset.hours;
    updateBuy();
    hours.focus();
  }
});

const sats = (msat) => Math.floor(msat / 1000).toLocaleString("en-US") + " sats";

// The order form: the total and the end time as the buyer chooses.
function updateBuy() {
  const form = document.getElementById("buy");
  if (!form) return;
  const size = form.querySelector("input[name=node_count]:checked");
  const hours = parseInt(form.elements.hours.value, 10);
  if (!size || !(hours >= +form.elements.hours.min && hours <= +form.elements.hours.max)) {
    document.getElementById("total-amount").textContent = "—";
    document.getElementById("buy-amount").textContent = "—";
    return;
  }
  const total = sats(+size.dataset.rate * hours);
  document.getElementById("total-amount").textContent = total;
  document.getElementById("buy-amount").textContent = total;
  document.getElementById("total-what").textContent = size.value + " nodes × " + hours + (hours === 1 ? " hour" : " hours");
  const t = document.querySelector("#ends time");
  const end = new Date(Date.now() + hours * (+form.dataset.hourSeconds || 3600) * 1000);
  t.dateTime = end.toISOString().replace(/\.\d+Z$/, "Z");
  t.textContent = end.toUTCString().replace(/:\d\d GMT$/, " UTC");
  delete t.dataset.done;
  localTimes(t.parentElement);
}

function updateExtend(form) {
  const h = parseInt(form.elements.hours.value, 10);
  const out = form.querySelector("#extend-total");
  if (!out) return;
  out.textContent = h >= 1 && h <= +form.elements.hours.max
    ? h + (h === 1 ? " hour costs " : " hours cost ") + sats(+form.dataset.rate * h) + "."
    : "Enter 1 to " + form.elements.hours.max + " hours.";
}

document.addEventListener("input", (e) => {
  if (e.target.form && e.target.form.id === "buy") updateBuy();
  if (e.target.form && e.target.form.classList.contains("extend")) updateExtend(e.target.form);
});
document.addEventListener("submit", (e) => {
  // One order per click: a second click while the first posts buys nothing.
  const b = e.submitter;
  if (b && !b.formMethod?.toLowerCase().includes("get") && e.target.method === "post") {
    setTimeout(() => { b.disabled = true; b.setAttribute("aria-busy", "true"); }, 0);
  }
});

// Live updates: the order's part of the page, replaced as it changes.
function follow() {
  const box = document.getElementById("order");
  if (!box || !box.dataset.events || !window.EventSource) return;
  const es = new EventSource(box.dataset.events + "?v=" + encodeURIComponent(box.dataset.version || ""));
  es.addEventListener("order", (e) => {
    const m = JSON.parse(e.data);
    if (box.dataset.extension) { // an extension's pay page: back to the order once it is served
      if (m.extensions.includes(+box.dataset.extension)) location.assign(box.dataset.back);
      return;
    }
    if (m.version === box.dataset.version) return;
    const before = box.dataset.state;
    box.dataset.version = m.version;
    box.dataset.state = m.state;
    box.innerHTML = m.html;
    localTimes(box);
    tickCountdowns();
    if (before !== m.state) {
      const h = box.querySelector("h2");
      if (h) {
        announce(h.textContent);
        h.tabIndex = -1;
        h.focus();
      }
    }
  });
}

localTimes(document);
tickCountdowns();
setInterval(tickCountdowns, 1000);
updateBuy();
follow();
