"""Compatibility faces: the routes of other systems' clients, each under its own base URL
(`/compat/<system>/`), mapped onto the core services. A face parses, checks and answers;
it holds no logic of its own."""
