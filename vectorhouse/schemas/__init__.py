"""Wire models mirroring OpenAI's Files + Vector Stores objects, their validators, and wire input parsed once."""
