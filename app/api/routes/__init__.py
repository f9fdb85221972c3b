"""One router per concern; `app.api.main` mounts them."""
