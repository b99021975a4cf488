// The approval view: select words in the subject or text to anchor a comment to them.
// Offsets count characters of the text exactly as saved (the marks add no characters), so
// the server can check the passage is really there. Without JavaScript, the passage is pasted.
(function () {
  "use strict";
  const form = document.querySelector("[data-comment-form]");
  if (!form) return;
  const quote = form.querySelector("[data-anchor-quote]");
  const part = form.querySelector("[data-anchor-part]");
  const start = form.querySelector("[data-anchor-start]");
  const end = form.querySelector("[data-anchor-end]");
  const hint = document.querySelector("[data-js-hint]");
  if (hint) hint.hidden = false;

  function offsetIn(container, node, offset) {
    const range = document.createRange();
    range.selectNodeContents(container);
    range.setEnd(node, offset);
    return range.toString().length;
  }

  function anchor() {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return;
    const range = selection.getRangeAt(0);
    const container = range.commonAncestorContainer.nodeType === 1
      ? range.commonAncestorContainer.closest("[data-part]")
      : range.commonAncestorContainer.parentElement.closest("[data-part]");
    if (!container) return;
    const a = offsetIn(container, range.startContainer, range.startOffset);
    const b = offsetIn(container, range.endContainer, range.endOffset);
    if (b <= a) return;
    part.value = container.dataset.part;
    start.value = String(a);
    end.value = String(b);
    quote.value = container.textContent.slice(a, b);
  }

  document.querySelectorAll("[data-part]").forEach(function (el) {
    el.addEventListener("mouseup", anchor);
    el.addEventListener("keyup", anchor);
  });
  // Typing in the passage box by hand drops the exact offsets: the server finds the words.
  quote.addEventListener("input", function () {
    start.value = "";
    end.value = "";
    part.value = quote.value.trim() ? "body" : "general";
  });
})();
