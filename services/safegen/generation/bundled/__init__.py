"""The bundled shapes model: a tiny text-to-image diffusion model trained here on rendered shapes."""
