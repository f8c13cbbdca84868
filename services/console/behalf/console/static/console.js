// Behalf console: small progressive enhancements. Served from 'self' (CSP forbids inline code).
"use strict";

function remaining(iso) {
  const left = Math.floor((Date.parse(iso) - Date.now()) / 1000);
  if (Number.isNaN(left)) return "";
  if (left <= 0) return "expired";
  const d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
  const m = Math.floor((left % 3600) / 60), s = left % 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  return m + "m " + s + "s";
}

function tickCountdowns() {
  document.querySelectorAll("time.countdown[datetime]").forEach(function (el) {
    const text = remaining(el.getAttribute("datetime"));
    if (text) {
      el.textContent = text;
      el.classList.toggle("expired", text === "expired");
    }
  });
}

function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
}

function copyButtons() {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      const input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) return;
      input.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(input.value).then(function () { button.textContent = "Copied"; });
      }
    });
  });
}

function liveDecisions() {
  const table = document.querySelector("table[data-live]");
  if (!table) return;
  const url = table.getAttribute("data-live");
  const rows = document.getElementById("decision-rows");
  const chart = document.getElementById("chart");
  const updated = document.getElementById("updated");
  const badge = document.getElementById("live-badge");
  let busy = false;
  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      // Fragments are rendered by the server with autoescaping, like every page.
      rows.innerHTML = data.rows;
      chart.innerHTML = data.chart;
      if (updated) updated.textContent = data.updated;
      if (badge) { badge.textContent = "live"; badge.className = "badge on"; }
    } catch (error) {
      if (badge) { badge.textContent = "offline"; badge.className = "badge off"; }
    } finally {
      busy = false;
    }
  }
  window.setInterval(poll, 2000);
}

document.addEventListener("DOMContentLoaded", function () {
  tickCountdowns();
  window.setInterval(tickCountdowns, 1000);
  confirmForms();
  copyButtons();
  liveDecisions();
});
