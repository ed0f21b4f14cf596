"""HTTP control plane."""
