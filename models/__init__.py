"""Model export tooling (optional ``export`` extra). The runtime only reads the files here."""
