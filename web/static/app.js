// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // The header's role switcher submits on change (its button stays for keyboards without JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Controls that need script show only where it runs; the plain links standing in for them hide.
  document.querySelectorAll("[data-script-only]").forEach(function (element) { element.hidden = false; });
  document.querySelectorAll("[data-no-script]").forEach(function (element) { element.hidden = true; });
  // "Select all" boxes for batch actions: <input type=checkbox data-select-all="name">.
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var boxes = function () {
      return document.querySelectorAll('input[type=checkbox][name="' + all.dataset.selectAll + '"]');
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
  });
  // Print buttons (the approval sheet): shown only where script runs, as only script can print.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  // The decision panel: an action's own inputs (a decision number...) show when its button is first
  // pressed; the second press sends. Without script they all show, each under its action's name.
  var actionInputs = document.querySelectorAll("fieldset.action-inputs");
  actionInputs.forEach(function (inputs) { if (!inputs.hasAttribute("data-open")) { inputs.hidden = true; } });
  document.querySelectorAll("button[data-inputs]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var inputs = document.getElementById(button.dataset.inputs);
      if (!inputs || !inputs.hidden) { return; }
      event.preventDefault();
      event.stopImmediatePropagation();  // asked to confirm on the press that sends, not this one
      actionInputs.forEach(function (other) { other.hidden = other !== inputs; });
      inputs.scrollIntoView({block: "center"});
      var first = inputs.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    });
  });
  // On a phone, long sections of the case page start folded (their heading unfolds them).
  if (window.matchMedia("(max-width: 600px)").matches) {
    document.querySelectorAll("details[data-fold-on-phone]").forEach(function (section) { section.open = false; });
  }
  // A link to a form folded in a <details> (「录入部门回复」) unfolds it, on arrival and on click.
  var unfoldTarget = function () {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    var folded = target && target.closest("details:not([open])");
    if (folded) { folded.open = true; target.scrollIntoView(); }
  };
  unfoldTarget();
  window.addEventListener("hashchange", unfoldTarget);
  // Buttons with data-confirm ask before submitting (rejections, withdrawals).
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); }
    });
  });
  // A refused form's summary of what to mend is read first.
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) { summary.focus(); }
  // Birth date and sex read from a 身份证号码 as it is typed, into their inputs when empty (the
  // server fills them in and checks them anyway): inputs marked data-derived-from="<id input>".
  document.querySelectorAll("[data-derived-from]").forEach(function (target) {
    var source = document.getElementById(target.dataset.derivedFrom);
    if (!source) { return; }
    source.addEventListener("input", function () {
      var id = source.value.trim().toUpperCase();
      // Only an empty input, or one this script filled in, is (re)filled: what a person typed stays.
      if (!/^\d{17}[\dX]$/.test(id) || (target.value && target.value !== target.dataset.filled)) { return; }
      if (target.dataset.derived === "date") {
        target.value = id.slice(6, 10) + "-" + id.slice(10, 12) + "-" + id.slice(12, 14);
      } else {
        target.value = parseInt(id.charAt(16), 10) % 2 ? "male" : "female";
      }
      target.dataset.filled = target.value;
    });
  });
})();
