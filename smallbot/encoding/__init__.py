"""THE sentence encoder every later step shares: loading, fine-tuning, export for serving, quantisation and
micro-batching under load."""
