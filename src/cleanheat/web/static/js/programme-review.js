// 报表审核: returning a report needs a comment. Say so in the page's language before the form is sent (the
// server refuses it too); accepting needs none.
(function () {
  "use strict";
  const form = document.getElementById("review-form");
  if (!form) return;
  const comment = form.querySelector("#comment");
  comment.addEventListener("input", () => comment.setCustomValidity(""));
  form.addEventListener("submit", (e) => {
    const decision = e.submitter ? e.submitter.value : "";
    if (decision === "return" && !comment.value.trim()) {
      e.preventDefault();
      comment.setCustomValidity(form.dataset.commentRequired);
      comment.reportValidity();
      comment.focus();
    }
  });
})();
