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
        table.querySelector("tbody").appendChild(copy);
        copy.querySelector("select").focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var focus = document.querySelector("[data-focus]");
    if (focus) focus.focus();
    var form = document.getElementById("step-form");
    if (!form) return;
    enablePlaces(form);
    refresh(form);
    form.addEventListener("change", function () { refresh(form); });
  });
})();
