"""HTTP handlers of the lab's API servers (thin: parse the request, call the model, render)."""
