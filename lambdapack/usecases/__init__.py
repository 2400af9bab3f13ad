"""The use cases of the library, one module each: build, build --check (compare), lock, check."""
