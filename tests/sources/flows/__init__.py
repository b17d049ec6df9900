"""The flows source (seed 003): its parsers and its simulator."""
