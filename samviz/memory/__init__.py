"""Pure PyTorch memory cores (no UI imports). One module per memory type; addressing.py holds the equations."""
