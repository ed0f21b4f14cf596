"""Media front modules: the server-side wrappers around native/ kernels."""
