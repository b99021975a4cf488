// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function answerValues(form, questionId) {
    var name = "q." + questionId;
    var values = [];
    form.querySelectorAll("[name='" + name + "'], [name='" + name + ".code']").forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      if (el.value) values.push(el.value);
    });
    return values;
  }

  function conditionHolds(form, box) {
    var controller = form.querySelector("#question-" + box.dataset.showIf);
    if (controller && controller.hidden) return false;
    var values = answerValues(form, box.dataset.showIf);
    if (box.dataset.equals !== undefined) return values.indexOf(box.dataset.equals) !== -1 && values.length === 1;
    if (box.dataset.includes !== undefined) return values.indexOf(box.dataset.includes) !== -1;
    if (box.dataset.oneOf !== undefined) {
      var allowed = box.dataset.oneOf.split(" ");
      return values.some(function (v) { return allowed.indexOf(v) !== -1; });
    }
    return true;
  }

  function refresh(form) {
    form.querySelectorAll("[data-show-if]").forEach(function (box) {
      box.hidden = !conditionHolds(form, box);
    });
    form.querySelectorAll("[data-unknown-for]").forEach(function (tick) {
      var question = tick.closest(".question");
      if (question) question.classList.toggle("is-unknown", tick.checked);
    });
  }

  function enablePlaces(form) {
    form.querySelectorAll("[data-places]").forEach(function (table) {
      var button = table.parentElement.querySelector("[data-add-row]");
      if (!button) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var rows = table.querySelectorAll("[data-place-row]");
        var copy = rows[rows.length - 1].cloneNode(true);
        copy.querySelectorAll("select, input").forEach(function (el) { el.value = ""; el.removeAttribute("id"); });
        // The copy must not repeat the last row's name ("Place 3"): screen readers and
        // voice control tell rows apart by it.
        var number = rows.length + 1;
        copy.querySelector("select").setAttribute("aria-label", "Place " + number);
        copy.querySelector("input").setAttribute("aria-label", "People in place " + number);
        table.querySelector("tbody").appendChild(copy);
        copy.querySelector("select").focus();
      });
    });
  }

  // Links to a question (#q-discovered, #q-actor) from the error summary or the fact sheet:
  // put the caret in its first control and show the whole question, label included. A
  // question asked as a group lands on its fieldset, which cannot take focus itself.
  function linkedControl() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target || !target.closest(".question") || target.closest("[hidden]")) return null;
    var control = target;
    if (target.tagName === "FIELDSET") {
      // The chosen option if there is one: that is where the arrow keys start from.
      control = target.querySelector("input[type=radio]:checked") ||
        target.querySelector("input:not([type=hidden]), select, textarea");
    }
    return control && typeof control.focus === "function" ? control : null;
  }

  function focusLinkedQuestion() {
    var control = linkedControl();
    if (!control) return false;
    control.closest(".question").scrollIntoView({ block: "start" });
    control.focus({ preventScroll: true });
    return document.activeElement === control;
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.addEventListener("hashchange", focusLinkedQuestion);
    // On arrival the browser's own jump to the #fragment comes after this handler and would
    // take the focus back (a fieldset cannot hold it), so wait for the page to finish loading.
    window.addEventListener("load", function () {
      window.setTimeout(focusLinkedQuestion, 0);
    });
    document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
      // Following the same link twice changes no hash, so no hashchange: focus anyway.
      link.addEventListener("click", function (event) {
        if (link.getAttribute("href") !== window.location.hash) return;
        if (focusLinkedQuestion()) event.preventDefault();
      });
    });
    var form = document.getElementById("step-form");
    if (form) {
      enablePlaces(form);
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
    }
    var focus = document.querySelector("[data-focus]");
    if (focus && !linkedControl()) focus.focus();
  });
})();
