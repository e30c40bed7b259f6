// lint-only package, never loaded at run time
