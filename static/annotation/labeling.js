// The labeling page: keys and buttons grade, skip and undo; the prefetched card is swapped in at
// once and the grade is posted behind it. Server calls run one after another, in key order, so the
// card each answer brings always follows the one on screen.
(() => {
  "use strict";

  const root = document.querySelector("[data-labeling]");
  if (!root) return;

  const currentSlot = document.getElementById("current-slot");
  const nextSlot = document.getElementById("next-slot");
  const skipDialog = document.getElementById("skip-dialog");
  const keysDialog = document.getElementById("keys-dialog");
  const skipNote = document.getElementById("skip-note");
  const skipHint = document.getElementById("skip-hint");
  const noticeBox = document.getElementById("notice");
  const GUIDELINE_KEY = "labeling.guideline.hidden";
  const RETRY_DELAY_MS = 400;

  let shownAt = performance.now();
  let chain = Promise.resolve();
  let pending = 0;
  let undoing = false;
  let noticeTimer = 0;

  // ---- cards ------------------------------------------------------------------------------

  const cardIn = (slot) => slot.querySelector(".pair-card");
  const tokenOf = (card) => (card && card.dataset.token) || "";
  const isWaiting = () => !cardIn(currentSlot);
  const isDone = () => { const card = cardIn(currentSlot); return !!card && card.hasAttribute("data-done"); };

  function loadingCard() {
    const card = document.createElement("div");
    card.className = "loading-card";
    card.textContent = "Loading the next pair…";
    return card;
  }

  function checkImage(card) {
    const img = card && card.querySelector(".pin-image img");
    if (img && img.complete && img.naturalWidth === 0) img.parentNode.classList.add("is-broken");
  }

  function show(card) {
    currentSlot.replaceChildren(card || loadingCard());
    shownAt = performance.now();
    checkImage(card);
  }

  function preload(card) {
    const src = card && card.dataset.image;
    if (src) new Image().src = src;  // the lazy <img> then finds it in the cache when shown
  }

  function advance() {
    const next = cardIn(nextSlot);
    nextSlot.replaceChildren();
    show(next);
  }

  // ---- talking to the server ----------------------------------------------------------------

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Every call here is idempotent (lease tokens), so one automatic retry is safe.
  async function send(url, init) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await fetch(url, init);
        if (response.status < 500 || attempt > 0) return response;
      } catch (error) {
        if (attempt > 0) throw error;
      }
      await sleep(RETRY_DELAY_MS);
    }
  }

  function post(url, fields) {
    return send(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      body: new URLSearchParams(fields),
    });
  }

  function enqueue(task) {
    pending += 1;
    root.classList.add("is-saving");
    chain = chain
      .then(task)
      .catch((error) => { if (!(error && error.loggedOut)) lostConnection(); })
      .finally(() => {
        pending -= 1;
        root.classList.toggle("is-saving", pending > 0);
      });
    return chain;
  }

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  async function fragmentOf(response) {
    if (response.redirected) {
      notify("Your session has ended; taking you to the login page.");
      setTimeout(() => window.location.reload(), 1500);
      throw Object.assign(new Error("logged out"), { loggedOut: true });
    }
    if (response.status !== 200 && response.status !== 409) {
      notify((await response.text()).slice(0, 200) || `The server answered ${response.status}.`);
      return null;
    }
    const fragment = parse(await response.text());
    const progress = fragment.querySelector("#progress-panel");
    if (progress) document.getElementById("progress-panel").replaceWith(progress);
    const notice = fragment.querySelector("[data-role=notice]");
    if (notice) notify(notice.textContent);
    return fragment;
  }

  function place(card) {
    if (!card) return;
    if (isWaiting() || isDone()) show(card);
    else {
      nextSlot.replaceChildren(card);
      preload(card);
    }
  }

  async function refill() {
    const url = `${root.dataset.prefetchUrl}?showing=${encodeURIComponent(tokenOf(cardIn(currentSlot)))}`;
    const fragment = await fragmentOf(await send(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }));
    if (fragment) place(fragment.querySelector(".pair-card"));
  }

  function lostConnection() {
    notify("Could not reach the server; that pair will come back later. Retrying…");
    if (!cardIn(nextSlot) && !isDone()) enqueue(refill);
  }

  // ---- actions ----------------------------------------------------------------------------

  function judge(fields) {
    const card = cardIn(currentSlot);
    if (undoing || !tokenOf(card)) return;
    const seconds = (performance.now() - shownAt) / 1000;
    const form = { token: tokenOf(card), seconds_spent: seconds.toFixed(3), ...fields };
    advance();
    enqueue(async () => {
      const response = await post(root.dataset.submitUrl, { ...form, showing: tokenOf(cardIn(currentSlot)) });
      const fragment = await fragmentOf(response);
      if (fragment) place(fragment.querySelector(".pair-card"));
      else if (isWaiting()) await refill();
    });
  }

  function undo() {
    if (undoing) return;
    undoing = true;
    enqueue(async () => {
      const response = await post(root.dataset.undoUrl, {});
      const fragment = await fragmentOf(response);
      const back = response.status === 200 && fragment && fragment.querySelector(".pair-card[data-token]");
      if (!back) return;
      const current = cardIn(currentSlot);
      if (current) nextSlot.replaceChildren(current);
      show(back);
    }).finally(() => { undoing = false; });
  }

  function notify(text) {
    noticeBox.textContent = text;
    noticeBox.classList.add("is-shown");
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => noticeBox.classList.remove("is-shown"), 4000);
  }

  function toggleGuideline(force) {
    const hidden = root.classList.toggle("guideline-hidden", force);
    root.querySelector("[data-action=guideline]").setAttribute("aria-expanded", String(!hidden));
    try { localStorage.setItem(GUIDELINE_KEY, hidden ? "1" : ""); } catch (error) { /* private mode */ }
  }

  function toggleMore(button) {
    const field = button.closest(".field");
    const open = field.classList.toggle("is-open");
    button.textContent = open ? "less" : "more";
    button.setAttribute("aria-expanded", String(open));
  }

  // ---- skip dialog --------------------------------------------------------------------------

  const reasons = () => Array.from(skipDialog.querySelectorAll("input[name=skip_reason]"));

  function openSkip() {
    if (undoing || !tokenOf(cardIn(currentSlot))) return;
    reasons().forEach((radio) => { radio.checked = false; });
    skipNote.value = "";
    skipHint.classList.remove("is-error");
    skipDialog.showModal();
    reasons()[0].focus();
  }

  function pickReason(index) {
    const radio = reasons()[index];
    if (!radio) return;
    radio.checked = true;
    if (radio.value === "other") skipNote.focus();
    else radio.focus();
  }

  function confirmSkip() {
    const chosen = reasons().find((radio) => radio.checked);
    const note = skipNote.value.trim();
    if (!chosen || (chosen.value === "other" && !note)) {
      skipHint.textContent = chosen ? "Write a few words for “Other”." : "Pick a reason first (1–4).";
      skipHint.classList.add("is-error");
      if (chosen) skipNote.focus();
      return;
    }
    skipDialog.close();
    judge({ skip_reason: chosen.value, skip_note: note });
  }

  function onSkipKey(event) {
    if (event.key === "Enter") {
      if (event.target.tagName === "BUTTON") return;  // let Cancel / Skip buttons do their own thing
      event.preventDefault();
      confirmSkip();
    } else if (event.target !== skipNote && /^[1-9]$/.test(event.key)) {
      event.preventDefault();
      pickReason(Number(event.key) - 1);
    }
  }

  skipNote.addEventListener("input", () => {
    const other = reasons().find((radio) => radio.value === "other");
    if (skipNote.value && other) other.checked = true;
  });

  // ---- keyboard and mouse -------------------------------------------------------------------

  function isTyping(target) {
    return !!target.closest && !!target.closest(
      "textarea, select, [contenteditable], input:not([type=radio]):not([type=checkbox]):not([type=button])"
    );
  }

  const KEYS = {
    s: openSkip,
    u: undo,
    g: () => toggleGuideline(),
    "?": () => keysDialog.showModal(),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (skipDialog.open) return onSkipKey(event);
    if (keysDialog.open) {
      if (event.key === "?") { event.preventDefault(); keysDialog.close(); }
      return;
    }
    if (isTyping(event.target) || event.repeat) return;
    if (/^[1-5]$/.test(event.key)) judge({ level: event.key });
    else if (KEYS[event.key]) KEYS[event.key]();
    else return;
    event.preventDefault();
  });

  const CLICKS = {
    skip: openSkip,
    undo,
    keys: () => keysDialog.showModal(),
    "keys-close": () => keysDialog.close(),
    guideline: () => toggleGuideline(),
    "skip-confirm": confirmSkip,
    "skip-cancel": () => skipDialog.close(),
  };

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.level) judge({ level: button.dataset.level });
    else if (button.dataset.action === "more") toggleMore(button);
    else if (CLICKS[button.dataset.action]) CLICKS[button.dataset.action]();
    else return;
    if (!button.closest("dialog")) button.blur();  // Enter / space must not repeat the last click
  });

  window.addEventListener("beforeunload", (event) => {
    if (pending > 0) event.preventDefault();
  });

  toggleGuideline(localStorage.getItem(GUIDELINE_KEY) === "1");
  show(cardIn(currentSlot));
  preload(cardIn(nextSlot));
})();
