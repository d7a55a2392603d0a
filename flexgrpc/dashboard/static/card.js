// The card form: Stripe Elements collects the card in the browser, Stripe.js confirms the
// SetupIntent with Stripe, and only the resulting PaymentMethod id is posted to this server.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  var config = document.getElementById("stripe-data");
  var errors = document.getElementById("card-errors");
  var submit = document.getElementById("card-submit");
  var show = function (message) {
    errors.textContent = message;
    errors.hidden = false;
    submit.disabled = false;
  };
  if (!form || !config) {
    return;
  }
  if (typeof window.Stripe === "undefined") {
    show("The card form could not load (Stripe.js did not arrive). Reload the page to retry.");
    return;
  }
  var settings = JSON.parse(config.textContent);
  var stripe = window.Stripe(settings.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit.disabled = true;
    errors.hidden = true;
    stripe.confirmCardSetup(settings.clientSecret, { payment_method: { card: card } })
      .then(function (result) {
        if (result.error) {
          show(result.error.message || "The card was not accepted; check it and try again.");
          return;
        }
        var method = result.setupIntent.payment_method;
        document.getElementById("payment-method-id").value =
          typeof method === "string" ? method : method.id;
        form.submit();
      }, function () {
        show("Stripe could not be reached; try again.");
      });
  });
})();
