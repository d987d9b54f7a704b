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

// Content: a Copy Content job's page follows the job until it is done, then reloads with the
// results (without JavaScript, <noscript><meta refresh> reloads the page instead).
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-job-status-url]");
  if (!box || !box.dataset.jobStatusUrl) return;
  const bar = box.querySelector("[data-job-bar]");
  const status = box.querySelector("[data-job-status]");
  const count = box.querySelector("[data-job-count]");
  const countTemplate = count ? count.textContent : "";
  const samples = [];
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.jobStatusUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const job = await response.json();
        // A job that stalls (or moves again) while watched: the page shows the notice and the
        // "Run again" button only as rendered by the server, for the user's role.
        const shown = document.querySelector("[data-job-stalled]") !== null;
        if (job.stalled !== undefined && job.stalled !== shown) {
          window.location.reload();
          return;
        }
        if (bar) {
          bar.max = Math.max(job.total, 1);
          bar.value = job.done;
          bar.textContent = `${job.percent} %`;
        }
        if (count) {
          // Keep the translated sentence; only the two numbers change.
          count.textContent = countTemplate.replace(/\d+(\D+)\d+/, `${job.done}$1${job.total}`);
        }
        if (status) {
          const label = status.dataset[`label${job.status[0].toUpperCase()}${job.status.slice(1)}`];
          if (label) status.textContent = label;
          status.className = `status job-${job.status}`;
        }
        // Further numbers of the same answer, by name (a campaign's sent, failed, remaining).
        box.querySelectorAll("[data-job-field]").forEach((field) => {
          const value = job[field.dataset.jobField];
          if (value !== undefined) field.textContent = value;
        });
        // A campaign's current rate: messages done per second over the last few polls.
        const rate = box.querySelector("[data-job-rate]");
        if (rate && job.done !== undefined) {
          const now = performance.now();
          samples.push([now, job.done]);
          while (samples.length > 1 && now - samples[0][0] > 5000) samples.shift();
          const [then, before] = samples[0];
          if (now > then) {
            const perSecond = ((job.done - before) * 1000) / (now - then);
            const template = rate.dataset.rateTemplate || "{rate}/s";
            rate.textContent = template.replace("{rate}", perSecond.toFixed(perSecond < 10 ? 1 : 0));
          }
        }
        if (job.status === "done" || job.status === "failed") {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A network hiccup: try again on the next tick.
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 1000);
});

// Copy Content form: show the panel of the chosen target mode; filter the sub-tenant list as
// the user types (the Search button does the same on the server without JavaScript).
document.addEventListener("DOMContentLoaded", () => {
  const radios = document.querySelectorAll("[data-scope-radio]");
  const panels = document.querySelectorAll("[data-scope-panel]");
  if (radios.length) {
    const sync = () => {
      const chosen = document.querySelector("[data-scope-radio]:checked");
      panels.forEach((panel) => {
        panel.hidden = !chosen || panel.dataset.scopePanel !== chosen.value;
      });
    };
    radios.forEach((radio) => radio.addEventListener("change", sync));
    sync();
  }
  const filter = document.querySelector("[data-target-filter]");
  if (filter) {
    const rows = document.querySelectorAll("[data-target-name]");
    filter.addEventListener("input", () => {
      const needle = filter.value.trim().toLowerCase();
      rows.forEach((row) => {
        row.hidden = needle !== "" && !row.dataset.targetName.includes(needle);
      });
    });
  }
});

// Campaign draft: a button to add another text block position.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-block-slots]").forEach((list) => {
    const last = list.querySelector("li:last-child");
    const select = last && last.querySelector("select");
    if (!select || select.disabled) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = list.dataset.addLabel || "+";
    button.addEventListener("click", () => {
      const items = list.querySelectorAll("li");
      const copy = items[items.length - 1].cloneNode(true);
      const copySelect = copy.querySelector("select");
      const copyLabel = copy.querySelector("label");
      const n = items.length + 1;
      copySelect.value = "";
      copySelect.id = `${select.name ? `id_${select.name}` : "id_blocks"}_${n}`;
      if (copyLabel) {
        copyLabel.htmlFor = copySelect.id;
        copyLabel.textContent = copyLabel.textContent.replace(/\d+$/, String(n));
      }
      list.appendChild(copy);
    });
    list.after(button);
  });
});

// Activating a paid upgrade: the button stays disabled until the conditions are accepted
// (the server refuses a submission without the tick, too).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-accept-form]").forEach((form) => {
    const box = form.querySelector("input[name=accept]");
    const button = form.querySelector("[data-needs-accept]");
    if (!box || !button) return;
    const sync = () => { button.disabled = !box.checked; };
    box.addEventListener("change", sync);
    sync();
  });
});
