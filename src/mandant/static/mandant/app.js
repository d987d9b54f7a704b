// Progressive enhancement only: every form works without this script.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("[data-testid=tenant-create-form]");
  if (!form) return;
  const type = form.querySelector("select[name=type]");
  const charset = form.querySelector("select[name=charset]");
  const note = form.querySelector("[data-standard-note]");
  if (!type || !charset) return;
  const sync = () => {
    const standard = type.value === "STANDARD";
    if (standard) charset.value = "UTF-8";
    // A disabled select is not submitted; the service defaults STANDARD to UTF-8 anyway.
    charset.disabled = standard;
    if (note) note.hidden = !standard;
  };
  type.addEventListener("change", sync);
  sync();
});

// After a failed submission, move focus to the first field with an error.
document.addEventListener("DOMContentLoaded", () => {
  const first = document.querySelector(".field.has-error input, .field.has-error select");
  if (first) first.focus();
});
