"""``scratchnet serve``: a local web page to draw a digit and watch every layer, learn and tune (docs/serve.md)."""
