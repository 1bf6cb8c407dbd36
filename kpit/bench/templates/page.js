(() => {
  "use strict";
  const form = document.getElementById("filters");
  const list = document.getElementById("cards");
  const search = document.getElementById("search");
  const sort = document.getElementById("sort");
  const shown = document.getElementById("shown");
  if (!form || !list || !search || !sort || !shown) return;
  const cards = Array.from(list.querySelectorAll(".card"));
  const texts = new Map(cards.map((card) => [card, card.textContent.toLowerCase()]));
  for (const element of document.querySelectorAll("[data-needs-script]")) element.hidden = false;

  function difference(card) {
    const pair = form.querySelector("input[name=pair]:checked");
    const name = pair && pair.value !== "" ? "data-diff-" + pair.value : "data-diff";
    const value = card.getAttribute(name);
    return value === null ? -1 : parseFloat(value);
  }

  function update() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const card of cards) {
      const text = texts.get(card);
      card.hidden = !words.every((word) => text.includes(word));
    }
    const ordered = cards.slice();
    if (sort.value === "diff-desc") ordered.sort((a, b) => difference(b) - difference(a));
    if (sort.value === "diff-asc") ordered.sort((a, b) => difference(a) - difference(b));
    for (const card of ordered) list.appendChild(card);
    const visible = cards.filter((card) => getComputedStyle(card).display !== "none").length;
    shown.textContent = visible + " of " + cards.length + " questions shown";
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", (event) => event.preventDefault());
  update();
})();
