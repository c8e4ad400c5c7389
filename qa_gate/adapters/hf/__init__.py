"""The transformers backend: what a checkpoint is (config), the adapter (backend) and one module per model kind."""
