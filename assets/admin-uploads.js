// Admin product uploads: stream the chosen file to the REST endpoint (which enforces the size
// limit while reading), authenticated by the HttpOnly session cookie, then ask the page's
// state to re-read the image and file list. Loaded by /admin/products/[product_id] only.
(function () {
  if (window.__shopAdminUploads) return;
  window.__shopAdminUploads = true;

  function say(id, text) {
    var status = document.getElementById(id);
    if (status) status.textContent = text;
  }

  async function upload(button) {
    var input = document.getElementById(button.dataset.uploadInput);
    var statusId = button.dataset.uploadStatus;
    var file = input && input.files && input.files[0];
    if (!file) {
      say(statusId, "Choose a file first.");
      return;
    }
    var body = new FormData();
    body.append("file", file, file.name);
    button.disabled = true;
    say(statusId, "Uploading " + file.name + "…");
    try {
      var response = await fetch(button.dataset.uploadUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        say(statusId, "Uploaded " + file.name + ".");
        input.value = "";
        var refresh = document.getElementById("uploads-refresh");
        if (refresh) refresh.click();
      } else {
        var message = "HTTP " + response.status;
        try {
          var answer = await response.json();
          message = (answer.error && answer.error.message) || answer.detail || message;
        } catch (ignored) {}
        say(statusId, "Upload refused: " + message);
      }
    } catch (error) {
      say(statusId, "Upload failed: " + error);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-upload-url]");
    if (button) {
      event.preventDefault();
      upload(button);
    }
  });
})();
