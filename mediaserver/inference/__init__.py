"""The inference service (`mediaserver inference`): one copy of the models
served over OpenAI's API to every media process of a box. Imports models/,
the Speech port's types and config; never the conversation."""
