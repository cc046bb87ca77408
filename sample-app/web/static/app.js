"use strict";
(function () {
  const form = document.getElementById("analyze-form");
  const text = document.getElementById("text");
  const button = document.getElementById("analyze");
  const count = document.getElementById("count");
  const errorBox = document.getElementById("error");
  const result = document.getElementById("result");
  const limit = Number(text.getAttribute("maxlength"));
  const encoder = new TextEncoder();

  function updateCount() {
    count.textContent = encoder.encode(text.value).length + " / " + limit + " bytes";
  }

  function bars(el, scores, colored) {
    el.replaceChildren();
    Object.entries(scores)
      .sort((a, b) => b[1] - a[1])
      .forEach(([label, p]) => {
        const row = document.createElement("div");
        row.className = "bar";
        const name = document.createElement("span");
        name.textContent = label;
        const track = document.createElement("div");
        track.className = "track";
        const fill = document.createElement("div");
        fill.className = "fill" + (colored ? " " + label : "");
        fill.style.width = (p * 100).toFixed(1) + "%";
        track.append(fill);
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = Math.round(p * 100) + "%";
        row.append(name, track, value);
        el.append(row);
      });
  }

  function show(data) {
    const s = document.getElementById("sentiment-label");
    s.textContent = data.sentiment.label;
    s.className = "label " + data.sentiment.label;
    bars(document.getElementById("sentiment-bars"), data.sentiment.scores, true);
    document.getElementById("topic-label").textContent = data.topic.label;
    bars(document.getElementById("topic-bars"), data.topic.scores, false);
    const summary = document.getElementById("summary");
    summary.replaceChildren(...data.summary.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }));
    document.getElementById("keywords").replaceChildren(...data.keywords.map((k) => {
      const span = document.createElement("span");
      span.textContent = k;
      return span;
    }));
    document.getElementById("elapsed").textContent =
      "Analyzed in " + data.elapsed_ms.toFixed(2) + " ms by the " + data.model + " model, " + data.summary_method + " summary · " + data.release;
    result.hidden = false;
  }

  async function analyze(event) {
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    button.textContent = "Analyzing…";
    try {
      const resp = await fetch("/api/analyze", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: text.value }),
      });
      const data = await resp.json().catch(() => ({ error: "the server answered " + resp.status }));
      if (!resp.ok) {
        throw new Error(data.error || "the server answered " + resp.status);
      }
      show(data);
    } catch (err) {
      errorBox.textContent = "Could not analyze the text: " + err.message;
      errorBox.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = "Analyze";
    }
  }

  form.addEventListener("submit", analyze);
  text.addEventListener("input", updateCount);
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      form.requestSubmit();
    }
  });
  document.querySelectorAll("[data-example]").forEach((chip) => {
    chip.addEventListener("click", () => {
      text.value = chip.dataset.example;
      updateCount();
      form.requestSubmit();
    });
  });
  updateCount();
})();
