// Product pages come with head tags written by the server (shop/web/product_pages.py) for
// crawlers and link previews, with JavaScript or without. The app writes the same tags itself
// once the product has come over its websocket (shop/pages/product.py) and keeps them current
// as the visitor moves between products. The server's copies stay until then, so a crawler
// that runs scripts but opens no websocket still reads the product's title and description;
// as soon as the app's own canonical link appears they are taken out: one set of tags, always
// for the product shown.
(function () {
  var selector = [
    "title",
    'meta[name="description"]',
    'link[rel="canonical"]',
    'meta[property^="og:"]',
    'meta[property^="product:"]',
    'meta[name^="twitter:"]',
    'script[type="application/ld+json"]',
  ].join(",");
  var server = Array.prototype.slice.call(document.head.querySelectorAll(selector));
  if (document.currentScript) document.currentScript.remove();

  function appWroteItsOwn() {
    var links = document.querySelectorAll('link[rel="canonical"]');
    for (var i = 0; i < links.length; i++) {
      if (server.indexOf(links[i]) < 0) return true;
    }
    return false;
  }

  var serverTitle = server.filter(function (tag) {
    return tag.tagName === "TITLE";
  })[0];

  var watcher = new MutationObserver(function () {
    if (!appWroteItsOwn()) {
      // Until then the document's title is the server's, not the app's placeholder: it
      // is the first <title> that counts.
      var first = document.querySelector("title");
      if (serverTitle && first !== serverTitle) {
        document.head.insertBefore(serverTitle, document.head.firstChild);
      }
      return;
    }
    watcher.disconnect();
    server.forEach(function (tag) {
      tag.remove();
    });
  });
  watcher.observe(document.documentElement, { childList: true, subtree: true });
})();
