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

// Forms that ask before they do something that cannot be undone (e.g. remove a user).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Create administrator: the initial-password field only with that hand-over method.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-method-password]");
  if (!box) return;
  const radios = document.querySelectorAll("input[name=method]");
  const sync = () => {
    const chosen = document.querySelector("input[name=method]:checked");
    box.hidden = !chosen || chosen.value !== "initial_password";
  };
  radios.forEach((radio) => radio.addEventListener("change", sync));
  sync();
});
