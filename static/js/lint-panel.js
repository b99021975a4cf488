// The notice editor's live lint panel. Progressive enhancement: without this file the page
// still saves, and lists the findings the server computed when it rendered the page.
//
// How the underlines work: the textarea is transparent and sits on top of a "mirror" div with
// the same font, padding, border and wrapping, holding the same text in <mark> elements (text
// itself transparent, so only the marks' colours show through). The mirror scrolls with the
// textarea. Marks are built with DOM calls and textContent only: the text is the user's.
(function () {
  "use strict";

  var DEBOUNCE_MS = 300;
  var SEVERITIES = [["error", "Errors"], ["warning", "Warnings"], ["suggestion", "Suggestions"]];
  var SEVERITY_RANK = { error: 0, warning: 1, suggestion: 2 };
  var NAV_KEYS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"];
  var SURROGATE = /[\uD800-\uDFFF]/;
  var SLOT = /\[[^\]\n]+\]/;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // The server counts offsets in code points (Python); JavaScript strings index UTF-16 code
  // units. They differ only after a character outside the BMP (an emoji, say).
  function toUtf16(text, findings) {
    if (!SURROGATE.test(text)) {
      findings.forEach(function (f) { f.s = f.start; f.e = f.end; });
      return;
    }
    // map[k]: where code point k starts, in UTF-16 code units.
    var map = [];
    for (var i = 0; i < text.length; i++) {
      map.push(i);
      var code = text.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) i++;
    }
    map.push(text.length);
    findings.forEach(function (f) {
      f.s = map[Math.min(f.start, map.length - 1)];
      f.e = map[Math.min(f.end, map.length - 1)];
    });
  }

  function codePoints(text) {
    var pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    return text.length - (pairs ? pairs.length : 0);
  }

  function findingKey(f) {
    return f.rule + "\u0000" + f.text;
  }

  function Panel(root) {
    this.root = root;
    this.form = root.querySelector("[data-lint-form]");
    this.textarea = root.querySelector("textarea");
    this.overlay = root.querySelector("[data-lint-overlay]");
    this.list = root.querySelector("[data-lint-findings]");
    this.status = root.querySelector("[data-lint-status]");
    this.state = root.querySelector("[data-lint-state]");
    this.grade = root.querySelector("[data-lint-grade]");
    this.dirtyNote = root.querySelector("[data-lint-dirty]");
    this.url = root.dataset.lintUrl;
    this.token = root.dataset.csrfToken;
    this.incidentId = root.dataset.incidentId ? Number(root.dataset.incidentId) : null;
    this.maxChars = Number(root.dataset.maxChars || "50000");
    this.targetGrade = root.dataset.targetGrade || "8";
    this.readonly = root.hasAttribute("data-readonly");
    this.savedText = root.hasAttribute("data-unsaved") ? null : this.textarea.defaultValue;
    this.subject = root.querySelector("[data-subject]");
    this.savedSubject = root.hasAttribute("data-unsaved") || !this.subject ? null : this.subject.defaultValue;
    this.labels = {};
    var labels = this.labels;
    root.querySelectorAll("[data-lint-legend] [data-category]").forEach(function (item) {
      labels[item.dataset.category] = item.dataset.label;
    });

    this.findings = [];
    this.stats = null;
    this.text = this.textarea.value; // the text the findings' offsets refer to
    this.seq = 0;
    this.timer = null;
    this.controller = null;
    this.active = null;
    this.lastAnnounced = "";
    this.submitting = false;

    this.mirror = el("div", "overlay__mirror");
    this.mirror.setAttribute("aria-hidden", "true");
    this.overlay.insertBefore(this.mirror, this.textarea);
    this.overlay.classList.add("overlay--live");
  }

  Panel.prototype.start = function () {
    var self = this;
    var ta = this.textarea;
    ta.addEventListener("input", function () { self.edited(); });
    ta.addEventListener("scroll", function () { self.syncScroll(); });
    ta.addEventListener("click", function () { self.showAtCaret(); });
    ta.addEventListener("keyup", function (event) {
      if (NAV_KEYS.indexOf(event.key) !== -1) self.showAtCaret();
    });
    if (window.ResizeObserver) {
      new ResizeObserver(function () { self.syncScroll(); }).observe(ta);
    }
    if (this.form) {
      this.form.addEventListener("submit", function () { self.submitting = true; });
    }
    if (this.subject) {
      this.subjectChecks = new SubjectChecks(this, this.subject, this.root.querySelector("[data-subject-checks]"));
      this.subject.addEventListener("input", function () {
        self.updateDirty();
        self.subjectChecks.schedule();
      });
    }
    window.addEventListener("beforeunload", function (event) {
      if (self.submitting || !self.isDirty()) return undefined;
      event.preventDefault();
      event.returnValue = "";
      return "";
    });
    this.updateDirty();

    var initial = null;
    var data = document.getElementById("lint-initial");
    try {
      initial = data ? JSON.parse(data.textContent) : null;
    } catch (e) {
      initial = null;
    }
    if (initial && ta.value === ta.defaultValue && this.fits(initial, ta.value)) {
      this.show(initial, ta.value, { announce: false });
    } else if (ta.value) {
      this.lintNow();
    } else {
      this.show({ findings: [], stats: null }, "", { announce: false });
    }
  };

  // The findings must quote the text exactly where they say (the browser may have restored
  // other text into the textarea, for instance after going back).
  Panel.prototype.fits = function (result, text) {
    var findings = result.findings.map(function (f) { return Object.assign({}, f); });
    toUtf16(text, findings);
    return findings.every(function (f) { return text.slice(f.s, f.e) === f.text; });
  };

  Panel.prototype.isDirty = function () {
    if (this.readonly) return false;
    if (this.textarea.value !== this.savedText) return true;
    return Boolean(this.subject) && this.subject.value !== this.savedSubject;
  };

  Panel.prototype.updateDirty = function () {
    if (this.dirtyNote) this.dirtyNote.hidden = !this.isDirty();
  };

  Panel.prototype.edited = function () {
    this.shift(this.text, this.textarea.value);
    this.text = this.textarea.value;
    this.renderMirror();
    this.updateDirty();
    this.schedule();
  };

  // Keep underlines on the words they belong to while the new check is on its way: findings
  // before the edit stay, findings after it move, findings the edit touched are dropped.
  Panel.prototype.shift = function (before, after) {
    var prefix = 0;
    var limit = Math.min(before.length, after.length);
    while (prefix < limit && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
    var suffix = 0;
    while (
      suffix < limit - prefix &&
      before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)
    ) suffix++;
    var editEnd = before.length - suffix;
    var delta = after.length - before.length;
    this.findings.forEach(function (f) {
      if (f.gone || f.e === f.s) return;
      if (f.e <= prefix) return;
      if (f.s >= editEnd) {
        f.s += delta;
        f.e += delta;
        return;
      }
      f.gone = true;
      if (f.item) f.item.classList.add("is-stale");
    });
  };

  Panel.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.setState("Checking as you type…");
    this.timer = window.setTimeout(function () { self.lintNow(); }, DEBOUNCE_MS);
  };

  Panel.prototype.lintNow = function () {
    var self = this;
    window.clearTimeout(this.timer);
    var text = this.textarea.value;
    if (!text.trim()) {
      // Nothing written yet: nothing to say ("the notice does not say ..." helps nobody).
      this.seq += 1;
      if (this.controller) this.controller.abort();
      this.show({ findings: [], stats: null }, text, { announce: true });
      return;
    }
    var length = codePoints(text);
    if (length > this.maxChars) {
      this.seq += 1;
      this.fail(
        "The text is " + length.toLocaleString("en-GB") + " characters long. The linter checks at most " +
        this.maxChars.toLocaleString("en-GB") + " characters at a time: shorten the notice or check it in parts."
      );
      return;
    }
    this.seq += 1;
    var mine = this.seq;
    if (this.controller) this.controller.abort();
    this.controller = window.AbortController ? new AbortController() : null;
    this.setState("Checking…");
    fetch(this.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": this.token
      },
      body: JSON.stringify({ text: text, incident_id: this.incidentId }),
      signal: this.controller ? this.controller.signal : undefined
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    }).then(function (reply) {
      // Only the answer to the latest request counts, and only while the text is unchanged
      // (if it changed, a newer check is already scheduled).
      if (mine !== self.seq || self.textarea.value !== text) return;
      if (!reply.ok) {
        self.fail(reply.data.error || "The text could not be checked (error " + reply.status + ").");
        return;
      }
      self.show(reply.data, text, { announce: true });
    }).catch(function (error) {
      if (error && error.name === "AbortError") return;
      if (mine !== self.seq) return;
      self.fail("The text could not be checked: the server did not answer. Your text is still here; it will be checked again when you next type.");
    });
  };

  Panel.prototype.setState = function (message) {
    if (this.state) this.state.textContent = message;
  };

  Panel.prototype.fail = function (message) {
    this.setState(message);
    this.state.classList.add("is-error");
    this.announce(message);
  };

  Panel.prototype.announce = function (message) {
    if (message === this.lastAnnounced) return;
    this.lastAnnounced = message;
    this.status.textContent = message;
  };

  Panel.prototype.show = function (result, text, options) {
    var findings = result.findings.map(function (f) { return Object.assign({}, f); });
    toUtf16(text, findings);
    var openKey = this.active ? findingKey(this.active) : null;
    var openAt = this.active ? this.active.s : 0;
    this.findings = findings;
    this.stats = result.stats;
    this.text = text;
    this.active = null;
    this.renderSummary();
    this.renderList();
    if (openKey) {
      // Keep the finding that was open open, if it is still there.
      var same = findings.filter(function (f) { return findingKey(f) === openKey; });
      same.sort(function (a, b) { return Math.abs(a.s - openAt) - Math.abs(b.s - openAt); });
      if (same.length) this.open(same[0], { select: false, scroll: false });
    }
    this.renderMirror();
    this.state.classList.remove("is-error");
    // A check that ran out of time says how much of the text it covers (result.note).
    this.setState(
      result.complete === false && result.note
        ? result.note
        : this.stats
          ? "Reading grade: aim for " + this.targetGrade + " or below. Checked as you type."
          : "Write or paste the notice: it is checked as you type."
    );
    if (options.announce) this.announce(this.summaryText());
  };

  Panel.prototype.summaryText = function () {
    var stats = this.stats;
    if (!stats || !stats.words) return "Nothing to check yet.";
    var parts = [];
    if (stats.errors) parts.push(plural(stats.errors, "error", "errors"));
    if (stats.warnings) parts.push(plural(stats.warnings, "warning", "warnings"));
    if (stats.suggestions) parts.push(plural(stats.suggestions, "suggestion", "suggestions"));
    if (!parts.length) parts.push("No problems found");
    return parts.join(", ") + ", grade " + stats.grade;
  };

  Panel.prototype.renderSummary = function () {
    var stats = this.stats;
    var hasWords = stats && stats.words;
    this.grade.textContent = hasWords ? String(stats.grade) : "–";
    var over = hasWords && Number(stats.grade) > Number(this.targetGrade);
    this.grade.parentElement.classList.toggle("is-over", Boolean(over));
    var counts = { error: "errors", warning: "warnings", suggestion: "suggestions" };
    var root = this.root;
    Object.keys(counts).forEach(function (severity) {
      var node = root.querySelector("[data-lint-count='" + severity + "']");
      var value = stats ? stats[counts[severity]] : null;
      node.textContent = value === null || value === undefined ? "–" : String(value);
      node.parentElement.classList.toggle("is-zero", !value);
    });
  };

  Panel.prototype.renderList = function () {
    var self = this;
    var fragment = document.createDocumentFragment();
    if (!this.stats) {
      this.list.replaceChildren();
      return;
    }
    SEVERITIES.forEach(function (pair) {
      var severity = pair[0];
      var items = self.findings.filter(function (f) { return f.severity === severity; });
      var section = el("section", "lint-group lint-group--" + severity);
      var heading = el("h3", "lint-group__title", pair[1] + " ");
      heading.id = "lint-group-" + severity;
      heading.appendChild(el("span", "lint-group__count" + (items.length ? "" : " is-zero"), String(items.length)));
      section.setAttribute("aria-labelledby", heading.id);
      section.appendChild(heading);
      if (!items.length) {
        section.appendChild(el("p", "lint-group__none", "None."));
      } else {
        var list = el("ul", "lint-list");
        items.forEach(function (f) { list.appendChild(self.renderItem(f)); });
        section.appendChild(list);
      }
      fragment.appendChild(section);
    });
    this.list.replaceChildren(fragment);
  };

  Panel.prototype.renderItem = function (f) {
    var self = this;
    var item = el("li");
    var details = el("details", "finding");
    var summary = el("summary", "finding__summary");
    summary.appendChild(el("span", "chip chip--" + f.category, this.labels[f.category] || f.category));
    summary.appendChild(document.createTextNode(" "));
    if (f.end > f.start) {
      summary.appendChild(el("q", "finding__words", f.text));
    } else {
      summary.appendChild(el("span", "finding__words finding__words--whole", "Whole notice"));
    }
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", "finding__message", f.message));
    details.appendChild(summary);

    var detail = el("div", "finding__detail");
    if (f.explanation) detail.appendChild(el("p", "finding__explanation", f.explanation));
    if (f.suggestion) {
      detail.appendChild(el("p", "finding__try", "Try instead:"));
      // Alternatives are separated by " / " ("[N] customers / We do not yet know how many").
      var choices = f.suggestion.split(" / ");
      var canApply = !this.readonly && f.end > f.start;
      choices.forEach(function (choice, index) {
        var row = el("div", "finding__choice");
        row.appendChild(el("p", "finding__suggestion", choice));
        if (canApply) {
          var button = el("button", "button button--small button--secondary", "Apply suggestion");
          button.type = "button";
          if (choices.length > 1) {
            button.setAttribute("aria-label", "Apply suggestion " + (index + 1) + ": " + choice);
          }
          button.addEventListener("click", function () { self.apply(f, choice); });
          row.appendChild(button);
        }
        detail.appendChild(row);
      });
    }
    details.appendChild(detail);
    details.addEventListener("toggle", function () {
      // "toggle" fires after the fact, also when open() opened the details itself (from a
      // click in the text): then the finding is already active, and the caret stays put.
      if (details.open) {
        if (self.active !== f) self.open(f, { select: true, scroll: true });
      } else if (self.active === f) {
        self.active = null;
        self.renderMirror();
      }
    });
    item.appendChild(details);
    f.item = item;
    f.details = details;
    return item;
  };

  // Open a finding's details, close the others, and show its words in the text.
  Panel.prototype.open = function (f, options) {
    this.findings.forEach(function (other) {
      if (other !== f && other.details && other.details.open) other.details.open = false;
    });
    this.active = f;
    if (!f.details.open) f.details.open = true;
    this.renderMirror();
    if (f.gone) {
      this.setState("Those words have changed since the last check. Checking again…");
      this.lintNow();
      return;
    }
    if (f.e > f.s) {
      if (options.select) this.textarea.setSelectionRange(f.s, f.e);
      if (options.scroll) this.revealInText(f);
    }
  };

  // Scroll the textarea (not the page) so the active mark is in view.
  Panel.prototype.revealInText = function () {
    var mark = this.mirror.querySelector(".is-active");
    if (!mark) return;
    var ta = this.textarea;
    var top = mark.offsetTop;
    var bottom = top + mark.offsetHeight;
    if (top < ta.scrollTop || bottom > ta.scrollTop + ta.clientHeight) {
      ta.scrollTop = Math.max(0, top - ta.clientHeight / 3);
      this.syncScroll();
    }
  };

  // The marks are under the textarea, so they cannot be clicked: a click (or arrow keys) in
  // the text opens the finding at the caret instead.
  Panel.prototype.showAtCaret = function () {
    var ta = this.textarea;
    if (ta.selectionStart !== ta.selectionEnd) return;
    var at = ta.selectionStart;
    var here = this.findings.filter(function (f) {
      return !f.gone && f.e > f.s && f.s <= at && at <= f.e;
    });
    if (!here.length) return;
    here.sort(function (a, b) { return (a.e - a.s) - (b.e - b.s); });
    this.open(here[0], { select: false, scroll: false });
    // Beside the text (wide screens), bring the finding into the panel's view; on a phone
    // the panel is below the text, and jumping the page there would lose the writer's place.
    if (window.matchMedia("(min-width: 901px)").matches && here[0].item) {
      here[0].item.scrollIntoView({ block: "nearest" });
    }
  };

  Panel.prototype.apply = function (f, choice) {
    var ta = this.textarea;
    if (f.gone || ta.value.slice(f.s, f.e) !== f.text) {
      this.setState("Those words have changed since the last check. Checking again…");
      this.lintNow();
      return;
    }
    var replacement = choice;
    // "…on [DATE]." replacing words just before a full stop would leave two full stops.
    if (/[.!?]$/.test(replacement) && /^[.!?]/.test(ta.value.slice(f.e))) {
      replacement = replacement.slice(0, -1);
    }
    var start = f.s;
    ta.focus();
    ta.setSelectionRange(f.s, f.e);
    // execCommand keeps the change on the browser's undo stack; setRangeText is the fallback.
    var done = false;
    try {
      done = document.execCommand("insertText", false, replacement);
    } catch (e) {
      done = false;
    }
    if (!done || ta.value.slice(start, start + replacement.length) !== replacement) {
      ta.setRangeText(replacement, f.s, f.e, "end");
      ta.dispatchEvent(new Event("input", { bubbles: true }));
    }
    // Select the first [SLOT] so typing fills it in.
    var slot = SLOT.exec(replacement);
    if (slot) {
      ta.setSelectionRange(start + slot.index, start + slot.index + slot[0].length);
    } else {
      ta.setSelectionRange(start, start + replacement.length);
    }
    this.announce("Suggestion applied." + (slot ? " Replace the words in square brackets." : ""));
    this.lintNow();
  };

  Panel.prototype.renderMirror = function () {
    var text = this.textarea.value;
    var active = this.active;
    var spans = this.findings.filter(function (f) { return !f.gone && f.e > f.s && f.e <= text.length; });
    var points = [0, text.length];
    spans.forEach(function (f) { points.push(f.s, f.e); });
    points = points.filter(function (p, i, all) { return all.indexOf(p) === i; });
    points.sort(function (a, b) { return a - b; });
    var fragment = document.createDocumentFragment();
    for (var i = 0; i + 1 < points.length; i++) {
      var from = points[i];
      var to = points[i + 1];
      var covering = spans.filter(function (f) { return f.s <= from && to <= f.e; });
      if (!covering.length) {
        fragment.appendChild(document.createTextNode(text.slice(from, to)));
        continue;
      }
      // The most specific finding colours the words: the shortest, then the most severe.
      covering.sort(function (a, b) {
        return (a.e - a.s) - (b.e - b.s) || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity];
      });
      var top = covering[0];
      var mark = el("mark", "lint-mark lint-mark--" + top.category + " lint-mark--" + top.severity, text.slice(from, to));
      // Every category under these words, for tests and for anyone reading the DOM.
      mark.dataset.categories = covering.map(function (f) { return f.category; }).join(" ");
      if (active && covering.indexOf(active) !== -1) mark.classList.add("is-active");
      fragment.appendChild(mark);
    }
    // A textarea shows a last empty line after a final line break; a div needs something on it.
    if (text.slice(-1) === "\n" || !text) fragment.appendChild(document.createTextNode(" "));
    this.mirror.replaceChildren(fragment);
    this.syncScroll();
  };

  Panel.prototype.syncScroll = function () {
    this.mirror.scrollTop = this.textarea.scrollTop;
    this.mirror.scrollLeft = this.textarea.scrollLeft;
  };

  // The subject line is checked on its own (no facts: "the notice does not say ..." means
  // nothing for one line), and only findings about its words are listed, under the field.
  function SubjectChecks(panel, input, box) {
    this.panel = panel;
    this.input = input;
    this.box = box;
    this.timer = null;
    this.seq = 0;
    this.controller = null;
  }

  SubjectChecks.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.check(); }, DEBOUNCE_MS);
  };

  SubjectChecks.prototype.check = function () {
    var self = this;
    var text = this.input.value;
    this.seq += 1;
    var mine = this.seq;
    if (this.controller) this.controller.abort();
    if (!text.trim() || codePoints(text) > 1000) {
      this.render([]);
      return;
    }
    this.controller = window.AbortController ? new AbortController() : null;
    fetch(this.panel.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": this.panel.token
      },
      body: JSON.stringify({ text: text, incident_id: null }),
      signal: this.controller ? this.controller.signal : undefined
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (!data || mine !== self.seq || self.input.value !== text) return;
      self.render(data.findings.filter(function (f) { return f.end > f.start; }));
    }).catch(function () {
      // The body's panel reports a server that does not answer; the subject stays as it was.
    });
  };

  SubjectChecks.prototype.render = function (findings) {
    var labels = this.panel.labels;
    if (!findings.length) {
      this.box.replaceChildren();
      return;
    }
    var list = el("ul", "subject-checks__list");
    findings.forEach(function (f) {
      var item = el("li");
      item.appendChild(el("span", "chip chip--" + f.category, labels[f.category] || f.category));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("q", "finding__words", f.text));
      item.appendChild(document.createTextNode(" " + f.message));
      list.appendChild(item);
    });
    this.box.replaceChildren(el("p", "subject-checks__title", "Checks on the subject line:"), list);
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-lint-editor]");
    if (!root || !window.fetch || !root.replaceChildren) return;
    new Panel(root).start();
  });
})();
