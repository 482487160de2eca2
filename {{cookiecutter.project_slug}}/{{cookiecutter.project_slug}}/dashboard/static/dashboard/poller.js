// Switch a device through the API, then poll the command until it settles.
// Without this script the form still works: it posts to the dashboard's switch view. The page
// of a device that cannot be switched has no switch, and does not load this script.
(function () {
  "use strict";
  const control = document.querySelector(".control");
  if (!control) return;
  const form = control.querySelector("form");
  const stateText = document.getElementById("command-state");
  const deviceState = document.getElementById("device-state");
  const csrfToken = form.querySelector("[name=csrfmiddlewaretoken]").value;
  const SETTLED = ["confirmed", "failed"];

  async function send(isOn) {
    const response = await fetch(control.dataset.commandsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken,
        // A key per click: the same request sent again would get this command back.
        "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Date.now()),
      },
      body: JSON.stringify({ is_on: isOn }),
    });
    if (!response.ok) {
      // A 409 or a 503 says why in its detail: the device cannot be switched (a sensor), or
      // the task queue could not be reached.
      const answer = await response.json().catch(() => ({}));
      throw new Error(answer.detail || "the server answered " + response.status);
    }
    return response.json();
  }

  async function poll(url) {
    for (let attempt = 0; attempt < 120; attempt++) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error("the server answered " + response.status);
      const command = await response.json();
      stateText.textContent = command.state;
      if (SETTLED.includes(command.state)) return command;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    throw new Error("no answer from the vendor yet");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const isOn = event.submitter && event.submitter.value === "true";
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => (button.disabled = true));
    stateText.textContent = "sending";
    try {
      const command = await send(isOn);
      stateText.textContent = command.state;
      const settled = SETTLED.includes(command.state) ? command : await poll(command.url);
      if (settled.state === "confirmed") deviceState.textContent = isOn ? "on" : "off";
      if (settled.state === "failed") stateText.textContent = "failed: " + settled.error;
    } catch (error) {
      stateText.textContent = "not sent: " + error.message;
    } finally {
      buttons.forEach((button) => (button.disabled = false));
    }
  });
})();
